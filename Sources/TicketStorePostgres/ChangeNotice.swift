import TicketCore

/// What one committed batch of a node tells the other nodes, in one `NOTIFY` on one channel:
/// whether it queued claimable work, and for each order it changed: the id, the new version, the
/// status and the priority — enough for a receiving node to keep its queue index without a
/// read, and to re-read only the orders someone waits on there. Past PostgreSQL's payload limit
/// (8,000 bytes) the entries are replaced by a reload marker: receivers then re-read everything
/// they keep.
///
/// Payload: `<sender> <w|-> <entries>`; entries `id:version:SP` comma-separated (S: a status
/// letter, P: `r` rush or `n` normal), an entry of a ready order followed by `:wait:cook` (its
/// milliseconds from placement and from the claim to ready, for the console's activity: the
/// listeners to every commit need no read), or `*` to reload.
struct ChangeNotice: Sendable, Equatable {
    static let channel = "ticketd"
    /// PostgreSQL refuses payloads of 8,000 bytes or more.
    static let payloadLimit = 7_900

    struct Entry: Sendable, Equatable {
        var id: Int64
        var version: Int
        var status: OrderStatus
        var priority: OrderPriority
        var waitMilliseconds: Int64? = nil
        var cookMilliseconds: Int64? = nil

        /// What listeners to every commit learn of it.
        var change: OrderChange {
            OrderChange(id: id, version: version, status: status, waitMilliseconds: waitMilliseconds,
                        cookMilliseconds: cookMilliseconds)
        }
    }

    /// The sending store instance (a node ignores its own notices).
    var sender: String
    var workAdded: Bool
    /// nil: too many to list; reload.
    var entries: [Entry]?

    static func entry(_ order: Order) -> Entry {
        let change = OrderChange(order)
        return Entry(id: order.id, version: order.version, status: order.status, priority: order.priority,
                     waitMilliseconds: change.waitMilliseconds, cookMilliseconds: change.cookMilliseconds)
    }

    var payload: String {
        var out = sender + (workAdded ? " w " : " - ")
        guard let entries else { return out + "*" }
        var first = true
        for e in entries {
            if !first { out += "," }
            first = false
            out += String(e.id) + ":" + String(e.version) + ":" + Self.letter(e.status) + (e.priority == .rush ? "r" : "n")
            if let wait = e.waitMilliseconds {
                out += ":" + String(wait) + ":" + (e.cookMilliseconds.map { String($0) } ?? "")
            }
            if out.utf8.count > Self.payloadLimit {
                return sender + (workAdded ? " w " : " - ") + "*"
            }
        }
        return out
    }

    init(sender: String, workAdded: Bool, entries: [Entry]?) {
        self.sender = sender
        self.workAdded = workAdded
        self.entries = entries
    }

    /// Parses a payload; nil when it is not one of ours (then the receiver reloads to be safe).
    init?(payload: String) {
        let parts = payload.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1] == "w" || parts[1] == "-" else { return nil }
        sender = String(parts[0])
        workAdded = parts[1] == "w"
        if parts[2] == "*" {
            entries = nil
            return
        }
        var list: [Entry] = []
        if !parts[2].isEmpty {
            for item in parts[2].split(separator: ",") {
                let f = item.split(separator: ":", omittingEmptySubsequences: false)
                guard f.count == 3 || f.count == 5, let id = Int64(f[0]), let version = Int(f[1]), f[2].count == 2,
                      let status = Self.status(f[2].first), let p = f[2].last else { return nil }
                var entry = Entry(id: id, version: version, status: status, priority: p == "r" ? .rush : .normal)
                if f.count == 5 {
                    guard let wait = Int64(f[3]) else { return nil }
                    entry.waitMilliseconds = wait
                    entry.cookMilliseconds = f[4].isEmpty ? nil : Int64(f[4])
                }
                list.append(entry)
            }
        }
        entries = list
    }

    private static func letter(_ status: OrderStatus) -> String {
        switch status {
        case .queued: return "q"
        case .cooking: return "c"
        case .ready: return "r"
        case .pickedUp: return "p"
        case .cancelled: return "x"
        case .failed: return "f"
        case .expired: return "e"
        }
    }

    private static func status(_ c: Character?) -> OrderStatus? {
        switch c {
        case "q": return .queued
        case "c": return .cooking
        case "r": return .ready
        case "p": return .pickedUp
        case "x": return .cancelled
        case "f": return .failed
        case "e": return .expired
        default: return nil
        }
    }
}
