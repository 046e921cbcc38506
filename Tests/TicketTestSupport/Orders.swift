import Foundation
import Logging
import TicketCore

/// A plain order of one line (3 s of cooking by default).
public func order(_ item: String = "fries", quantity: Int = 1, priority: OrderPriority = .normal,
                  customer: String? = nil, cookSeconds: Double = 3) -> NewOrder {
    NewOrder(items: [OrderLine(item: item, quantity: quantity)], customer: customer, priority: priority,
             cookSeconds: cookSeconds)
}

/// Loggers for the parts under test: quiet unless TICKETD_TEST_LOG names a level.
public func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    let level = ProcessInfo.processInfo.environment["TICKETD_TEST_LOG"].flatMap(Logger.Level.init(rawValue:))
    logger.logLevel = level ?? .critical
    return logger
}
