import Foundation
import Logging
import TicketCore

/// One line per log record on standard error: `[time] level label: message key=value …`.
/// Under journald (`JOURNAL_STREAM` set) the time is left out, as journald adds its own.
public struct StderrLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let timestamps: Bool

    public init(label: String, level: Logger.Level, timestamps: Bool) {
        self.label = label
        self.logLevel = level
        self.timestamps = timestamps
    }

    /// Whether the process runs under journald.
    public static var underJournald: Bool { ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = ""
        if timestamps {
            line += SystemWallClock().now().rfc3339 + " "
        }
        line += event.level.rawValue + " " + label + ": " + event.message.description
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for key in merged.keys.sorted() {
            line += " \(key)=\(Self.quote(merged[key]?.description ?? ""))"
        }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func quote(_ s: String) -> String {
        s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\\\"") + "\"" : s
    }
}
