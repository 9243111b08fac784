import Glibc
import OverlayPlanner
import Synchronization
import SystemCalls

/// Hands verified plans from the thread that fetches them to the reconcile loop, and wakes that
/// loop at once: the loop polls `fileDescriptor` (a pipe's read end) next to its netlink sockets, so a
/// new plan is applied without waiting for the periodic resync. Only the newest plan is kept:
/// an older one still waiting is simply replaced.
public final class PlanInbox: Sendable {
    private let slot = Mutex<NodePlan?>(nil)
    /// Readable while a plan waits.
    public let fileDescriptor: Int32
    private let writeEnd: Int32

    public init() throws(SystemCallError) {
        (fileDescriptor, writeEnd) = try makeWakeUpPipe("for the plan inbox")
    }

    deinit {
        close(fileDescriptor)
        close(writeEnd)
    }

    /// Leaves `plan` for the loop (replacing a waiting older one) and wakes it.
    public func post(_ plan: NodePlan) {
        slot.withLock { waiting in
            if let w = waiting, w.revision > plan.revision { return }
            waiting = plan
        }
        // A full pipe already means "wake up"; the byte is only a signal.
        var one: UInt8 = 1
        _ = try? systemCall("write", "plan inbox") { write(writeEnd, &one, 1) }
    }

    /// The waiting plan, if any; clears the wake-up.
    public func take() -> NodePlan? {
        var buffer = [UInt8](repeating: 0, count: 64)
        // Until EAGAIN: the pipe is empty.
        while (try? systemCall("read", "plan inbox") { read(fileDescriptor, &buffer, 64) }) ?? 0 > 0 {}
        return slot.withLock { waiting in
            defer { waiting = nil }
            return waiting
        }
    }

    /// Blocks until a plan arrives or `timeoutMilliseconds` pass; true when one waits.
    public func wait(timeoutMilliseconds: Int32) -> Bool {
        var fds = [pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)]
        // A signal ends the wait, so the caller sees a stop request at once.
        return (try? systemCall("poll", "plan inbox", retryingInterrupts: false) { poll(&fds, 1, timeoutMilliseconds) })
            ?? 0 > 0
    }
}
