// The framework's ceiling for `scripts/bench`: the same Hummingbird build as ticketd, one
// trivial route, no middleware, no database. `GET /ping` answers a small JSON body.
//   ticketd-ceiling [--port 8090] [--host 127.0.0.1]
// Logs `ticketd-ceiling listening on HOST:PORT` on stderr once it serves; stops on SIGTERM/SIGINT.
import Foundation
import Hummingbird

func parseArguments() -> (host: String, port: Int) {
    var host = "127.0.0.1"
    var port = 8090
    var arguments = Array(CommandLine.arguments.dropFirst())[...]
    while let flag = arguments.popFirst() {
        switch flag {
        case "--port": port = arguments.popFirst().flatMap { Int($0) } ?? port
        case "--host": host = arguments.popFirst() ?? host
        default:
            FileHandle.standardError.write(Data("usage: ticketd-ceiling [--port N] [--host ADDRESS]\n".utf8))
            exit(64)
        }
    }
    return (host, port)
}

let (host, port) = parseArguments()
let router = Router()
let pong = ByteBuffer(string: #"{"pong":true}"#)
router.get("/ping") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: pong))
}

// Same server settings as ticketd's Application (Sources/TicketDaemon/Daemon.swift).
let app = Application(
    router: router,
    configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil, reuseAddress: true),
    onServerRunning: { channel in
        let bound = channel.localAddress?.port ?? port
        FileHandle.standardError.write(Data("ticketd-ceiling listening on \(host):\(bound)\n".utf8))
    }
)
try await app.runService()
