import NIOCore
import Synchronization

/// Waiting for a client connection to close, in a way that cancellation ends at once
/// (`closeFuture.get()` alone would keep a task group waiting until the client leaves).
enum ChannelClosure {
    /// Returns when `channel` closes or the task is cancelled.
    static func wait(_ channel: any Channel) async {
        let once = ResumeOnce()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                once.set(c)
                channel.closeFuture.whenComplete { _ in once.resume() }
                if Task.isCancelled { once.resume() }
            }
        } onCancel: {
            once.resume()
        }
    }

    /// A continuation resumed at most once, whoever comes first; a resume before `set` is kept.
    final class ResumeOnce: Sendable {
        private let state = Mutex<(CheckedContinuation<Void, Never>?, Bool)>((nil, false))

        func set(_ c: CheckedContinuation<Void, Never>) {
            let resumeNow = state.withLock { s -> Bool in
                if s.1 { return true }
                s.0 = c
                return false
            }
            if resumeNow { c.resume() }
        }

        func resume() {
            let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
                guard !s.1 else { return nil }
                s.1 = true
                defer { s.0 = nil }
                return s.0
            }
            c?.resume()
        }
    }
}
