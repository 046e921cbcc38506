// The framework's ceilings for `scripts/bench`: the same Hummingbird build as ticketd, no
// middleware. `GET /ping` answers a small JSON body (the trivial route); `GET /hold?seconds=N`
// answers the same after N seconds (a held request, for memory per waiting client); with `--durable PATH`,
// `POST /orders` also appends one row to a SQLite database at PATH and answers after its
// group commit (the durable route, `DurableRoute.swift`).
//   ticketd-ceiling [--port 8090] [--host 127.0.0.1] [--durable PATH [--rows log|ticketd|order]]
// (`--rows ticketd`: the durable route writes ticketd's own rows; `--rows order`: the order row
// alone; see DurableRoute.swift.)
// Logs `ticketd-ceiling listening on HOST:PORT` on stderr once it serves; stops on SIGTERM/SIGINT.
import Foundation
import Hummingbird

func parseArguments() -> (host: String, port: Int, durable: String?, rows: DurableLog.Rows) {
    var host = "127.0.0.1"
    var port = 8090
    var durable: String?
    var rows = DurableLog.Rows.log
    var arguments = Array(CommandLine.arguments.dropFirst())[...]
    while let flag = arguments.popFirst() {
        switch flag {
        case "--port": port = arguments.popFirst().flatMap { Int($0) } ?? port
        case "--host": host = arguments.popFirst() ?? host
        case "--durable": durable = arguments.popFirst()
        case "--rows":
            guard let value = arguments.popFirst().flatMap(DurableLog.Rows.init(rawValue:)) else { fallthrough }
            rows = value
        default:
            FileHandle.standardError.write(Data("usage: ticketd-ceiling [--port N] [--host ADDRESS] [--durable PATH [--rows log|ticketd|order]]\n".utf8))
            exit(64)
        }
    }
    return (host, port, durable, rows)
}

let (host, port, durable, rows) = parseArguments()
let router = Router()
if let durable {
    do {
        addDurableRoute(to: router, log: try DurableLog(path: durable, rows: rows))
    } catch {
        FileHandle.standardError.write(Data("ticketd-ceiling: \(error)\n".utf8))
        exit(1)
    }
}
let pong = ByteBuffer(string: #"{"pong":true}"#)
router.get("/ping") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: pong))
}
// The least a held request can cost in the framework: its handler waits `seconds` (at most 60)
// in one `Task.sleep`, then answers like /ping. The yardstick for a waiting long poll's memory.
router.get("/hold") { request, _ -> Response in
    let seconds = request.uri.queryParameters["seconds"].flatMap { Double(String($0)) } ?? 10
    try? await Task.sleep(for: .milliseconds(Int64(min(max(seconds, 0), 60) * 1000)))
    return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: pong))
}

// Hummingbird's own Application, with the server settings ticketd used before it bound its own socket.
let app = Application(
    router: router,
    configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil, reuseAddress: true),
    onServerRunning: { channel in
        let bound = channel.localAddress?.port ?? port
        FileHandle.standardError.write(Data("ticketd-ceiling listening on \(host):\(bound)\n".utf8))
    }
)
try await app.runService()
