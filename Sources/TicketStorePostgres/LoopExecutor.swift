import NIOCore
import Synchronization

/// Runs a task's jobs on one NIO event loop: the loop of the connection the task talks to.
///
/// A query's answer completes its promise on the connection's event loop. Without a preference,
/// the waiting task then resumes on the cooperative pool (a wake-up of another thread), and its
/// next query is handed back to the event loop (another wake-up). With the task's executor
/// preference set to that loop (`withTaskExecutorPreference(LoopExecutor.of(loop))`), the task
/// resumes on the loop itself and writes its next query there: two thread hops fewer per round
/// trip. The work run this way is short (building a statement, decoding rows, resuming callers);
/// nothing in it blocks.
final class LoopExecutor: TaskExecutor {
    let loop: any EventLoop

    private init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    private static let byLoop = Mutex<[ObjectIdentifier: LoopExecutor]>([:])

    /// The executor of `loop` (one per loop, kept: a process has a handful of loops).
    static func of(_ loop: any EventLoop) -> LoopExecutor {
        byLoop.withLock { executors in
            if let e = executors[ObjectIdentifier(loop)] { return e }
            let e = LoopExecutor(loop)
            executors[ObjectIdentifier(loop)] = e
            return e
        }
    }
}
