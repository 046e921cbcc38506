/// The items that can be ordered, each with its cooking time, in configuration order.
public struct Menu: Sendable, Hashable {
    public struct Item: Sendable, Hashable {
        public var name: String
        public var cookSeconds: Double
        public init(name: String, cookSeconds: Double) {
            self.name = name
            self.cookSeconds = cookSeconds
        }
    }

    public let items: [Item]
    private let byName: [String: Double]

    public init(items: [Item]) {
        self.items = items
        var byName: [String: Double] = [:]
        for item in items { byName[item.name] = item.cookSeconds }
        self.byName = byName
    }

    /// The cooking time of `name`, or nil if it is not on the menu.
    public func cookSeconds(of name: String) -> Double? { byName[name] }

    /// The sum over the lines of cook_seconds × quantity (unknown items count 0).
    public func cookSeconds(of lines: [OrderLine]) -> Double {
        lines.reduce(0) { $0 + (byName[$1.item] ?? 0) * Double($1.quantity) }
    }
}
