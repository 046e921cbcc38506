import Foundation
import Testing
import TicketCore
import TicketStore
@testable import TicketStoreSQLite
import TicketTestSupport

/// The items column: the compact writer and the fast reader agree with each other and with
/// Foundation's JSON, and anything unusual falls back to JSONDecoder.
@Suite(.timeLimit(.minutes(1)))
struct OrderRowTests {
    @Test(arguments: [
        [OrderLine(item: "fries", quantity: 1)],
        [OrderLine(item: "cheeseburger", quantity: 20), OrderLine(item: "cola", quantity: 3)],
        [],
        [OrderLine(item: "crème-brûlée", quantity: 2)],
        [OrderLine(item: "say \"cheese\"", quantity: 1), OrderLine(item: "back\\slash", quantity: 4)],
        [OrderLine(item: "tab\there\nnewline\u{01}", quantity: 7)],
    ])
    func roundTrip(_ lines: [OrderLine]) throws {
        let text = OrderRow.encodeItems(lines)
        #expect(OrderRow.decodeItems(text) == lines)
        let viaFoundation = try JSONDecoder().decode([OrderLine].self, from: Data(text.utf8))
        #expect(viaFoundation == lines)
    }

    @Test func fastPathTakesPlainItemsOnly() {
        #expect(OrderRow.decodeCompactItems(#"[{"item":"fries","quantity":12}]"#) == [OrderLine(item: "fries", quantity: 12)])
        #expect(OrderRow.decodeCompactItems("[]") == [])
        #expect(OrderRow.decodeCompactItems(#"[{"item":"a\"b","quantity":1}]"#) == nil)
        #expect(OrderRow.decodeCompactItems(#"[{"quantity":1,"item":"fries"}]"#) == nil)
        #expect(OrderRow.decodeCompactItems(#"[{"item":"fries","quantity":1}] "#) == nil)
        #expect(OrderRow.decodeCompactItems(#"[{"item":"fries","quantity":}]"#) == nil)
        // A hand-written row in another key order still reads, through JSONDecoder.
        #expect(OrderRow.decodeItems(#"[{"quantity": 2, "item": "cola"}]"#) == [OrderLine(item: "cola", quantity: 2)])
    }
}
