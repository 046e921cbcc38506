import TicketCore

/// Validation of `POST /v1/orders` bodies: every problem is reported with its field.
enum OrderRequest {
    static let maxLines = 50
    static let quantityRange = 1...20
    static let maxCustomer = 64
    static let maxNote = 280
    static let allowedKeys: Set<String> = ["items", "customer", "note", "priority"]
    static let allowedLineKeys: Set<String> = ["item", "quantity"]

    /// The order in `value`, or the list of field errors.
    static func validate(_ value: JSONValue, menu: Menu) -> Result<NewOrder, Problem> {
        guard case .object(let body) = value else {
            return .failure(.validation([.init("(body)", "must be a JSON object")]))
        }
        var errors: [Problem.FieldError] = []
        // Sorted only when some key is unknown (the errors list them in order).
        if !body.keys.allSatisfy(allowedKeys.contains) {
            for key in body.keys.sorted() where !allowedKeys.contains(key) {
                errors.append(.init(key, "unknown field (allowed: items, customer, note, priority)"))
            }
        }
        var lines: [OrderLine] = []
        switch body["items"] {
        case nil:
            errors.append(.init("items", "is required"))
        case .array(let array)?:
            if array.isEmpty { errors.append(.init("items", "must list at least one item")) }
            if array.count > maxLines { errors.append(.init("items", "at most \(maxLines) lines, got \(array.count)")) }
            for (i, element) in array.prefix(maxLines).enumerated() {
                // The field path, written only for an error.
                func at() -> String { "items[\(i)]" }
                guard case .object(let line) = element else {
                    errors.append(.init(at(), "must be an object like {\"item\": \"fries\", \"quantity\": 1}"))
                    continue
                }
                if !line.keys.allSatisfy(allowedLineKeys.contains) {
                    for key in line.keys.sorted() where !allowedLineKeys.contains(key) {
                        errors.append(.init("\(at()).\(key)", "unknown field (allowed: item, quantity)"))
                    }
                }
                var name: String?
                switch line["item"] {
                case .string(let s)?:
                    if menu.cookSeconds(of: s) == nil {
                        errors.append(.init("\(at()).item", "'\(s.prefix(64))' is not on the menu (see GET /v1/menu)"))
                    } else {
                        name = s
                    }
                case nil: errors.append(.init("\(at()).item", "is required"))
                default: errors.append(.init("\(at()).item", "must be a string"))
                }
                var quantity = 1
                switch line["quantity"] {
                case nil: break
                case .number(let d)?:
                    if d != d.rounded() || !quantityRange.contains(Int(exactly: d) ?? 0) {
                        errors.append(.init("\(at()).quantity", "must be a whole number from \(quantityRange.lowerBound) to \(quantityRange.upperBound)"))
                    } else {
                        quantity = Int(d)
                    }
                default:
                    errors.append(.init("\(at()).quantity", "must be a whole number from \(quantityRange.lowerBound) to \(quantityRange.upperBound)"))
                }
                if let name { lines.append(OrderLine(item: name, quantity: quantity)) }
            }
        default:
            errors.append(.init("items", "must be a list of {\"item\", \"quantity\"}"))
        }
        let customer = optionalText(body["customer"], field: "customer", max: maxCustomer, errors: &errors)
        let note = optionalText(body["note"], field: "note", max: maxNote, errors: &errors)
        var priority = OrderPriority.normal
        switch body["priority"] {
        case nil, .null?: break
        case .string(let s)?:
            if let p = OrderPriority(rawValue: s) { priority = p } else {
                errors.append(.init("priority", "must be \"normal\" or \"rush\""))
            }
        default: errors.append(.init("priority", "must be \"normal\" or \"rush\""))
        }
        guard errors.isEmpty else { return .failure(.validation(errors)) }
        return .success(NewOrder(items: lines, customer: customer, note: note, priority: priority,
                                 cookSeconds: menu.cookSeconds(of: lines)))
    }

    private static func optionalText(_ value: JSONValue?, field: String, max: Int,
                                     errors: inout [Problem.FieldError]) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let s)?:
            // Characters are Unicode code points, as the document's maxLength counts them.
            let length = s.unicodeScalars.count
            if length > max {
                errors.append(.init(field, "at most \(max) characters, got \(length)"))
                return nil
            }
            return s
        default:
            errors.append(.init(field, "must be a string"))
            return nil
        }
    }
}
