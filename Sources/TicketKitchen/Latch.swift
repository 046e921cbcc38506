import Synchronization

/// One-shot and repeating wake-ups for async waiters, cancellation-aware; waiting holds no thread.
public enum Latch {
    /// Opens once; every waiter, past and future, proceeds.
    public final class Gate: Sendable {
        private struct State {
            var open = false
            var nextID: UInt64 = 0
            var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        }
        private let state = Mutex(State())

        public init() {}

        public var isOpen: Bool { state.withLock { $0.open } }

        public func open() {
            let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.open = true
                defer { s.waiters = [:] }
                return Array(s.waiters.values)
            }
            for w in waiters { w.resume() }
        }

        /// Returns when the gate opens, or at once on cancellation.
        public func wait() async {
            let id = state.withLock { s -> UInt64 in s.nextID += 1; return s.nextID }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { s -> Bool in
                        if s.open || Task.isCancelled { return true }
                        s.waiters[id] = c
                        return false
                    }
                    if now { c.resume() }
                }
            } onCancel: {
                state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
            }
        }
    }

    /// Fires any number of times; each wait returns at the next firing.
    public final class Signal: Sendable {
        private let state = Mutex<(UInt64, [UInt64: CheckedContinuation<Void, Never>])>((0, [:]))

        public init() {}

        public func fire() {
            let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                defer { s.1 = [:] }
                return Array(s.1.values)
            }
            for w in waiters { w.resume() }
        }

        public func wait() async {
            let id = state.withLock { s -> UInt64 in s.0 += 1; return s.0 }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { s -> Bool in
                        if Task.isCancelled { return true }
                        s.1[id] = c
                        return false
                    }
                    if now { c.resume() }
                }
            } onCancel: {
                state.withLock { $0.1.removeValue(forKey: id) }?.resume()
            }
        }
    }
}
