import OverlayModel
import OverlayPlanner

/// Which of a network's two relay hubs this member routes through, decided from what it saw of
/// each hub on the data path and the time it read; no I/O and no clock of its own
/// (docs/failover.md). The agent carries out the actions: it sends the probes it is told to,
/// reports each reply or loss and the handshake ages it reads, and re-programs the peers when the
/// set of hubs out of service changes (`FailoverPlan.peers(_:outOfService:)`).
///
/// - A hub is *down* once it has shown no sign of life (a probe reply, a fresh handshake) for
///   `downAfter` (`returnAfter` while it has shown none since the start), and *up* again after
///   signs of life for `upAfter` with no loss between them.
/// - A down hub goes out of service at once. Both out of service is `noRelay`: the plan's layout
///   stays, and the first hub that is up again comes back into service at once.
/// - Otherwise a hub comes back into service only after `returnAfter` up without a single loss, so
///   a flapping hub never pulls the routes back and forth. The return is applied at the first
///   instant on the return grid (the middle of every `returnGrid / probeInterval`-th probe
///   interval, on the wall clock) after the hold ends: every member that saw the hub back on the
///   same probe tick computes the same instant, and so do most that saw it a tick apart; they
///   switch together. A loss before it calls it off.
/// - A hub with a detour (the other hub's forwarder) that shows no sign of life
///   for `suspectAfter` since its path was last set is *suspected*: its path flips (direct to
///   detour or back) and nothing else moves. A path that answers before `downAfter` keeps the
///   hub in service; one that does not is down as before. While detoured, the direct path is
///   tried again after `returnAfter`, then after twice as long at each failed try (up to 32 times).
struct RelayFailoverStateMachine {
    struct Thresholds: Equatable {
        var probeInterval: Duration
        var downAfter: Duration
        var upAfter: Duration
        var returnAfter: Duration

        /// One interval and a half: one probe lost, and the next one not sent yet.
        var suspectAfter: Duration { probeInterval * 3 / 2 }

        /// Returns are applied only once every this many probe intervals, on the wall clock. Two
        /// members that saw the hub back a tick apart then still return at the same instant
        /// unless a grid point falls between their holds' ends: one time in five.
        static let returnGridIntervals = 5
        var returnGrid: Duration { probeInterval * Self.returnGridIntervals }

        init(probeInterval: Duration, downAfter: Duration, upAfter: Duration, returnAfter: Duration) {
            self.probeInterval = probeInterval
            self.downAfter = downAfter
            self.upAfter = upAfter
            self.returnAfter = returnAfter
        }

        init(_ plan: FailoverThresholds) {
            self.init(
                probeInterval: .milliseconds(plan.probeInterval), downAfter: .milliseconds(plan.downAfter),
                upAfter: .milliseconds(plan.upAfter), returnAfter: .milliseconds(plan.returnAfter))
        }
    }

    typealias Instant = ContinuousClock.Instant

    enum Evidence: Equatable {
        /// A probe came back after `rtt`.
        case reply(rtt: Duration)
        /// The probe sent at `sent` got no reply within one probe interval.
        case lost(sent: Instant)
        /// The device's last handshake with the hub, `age` ago.
        case handshake(age: Duration)
    }

    struct Hub: Equatable {
        var up = true
        var inService = true
        var lastAlive: Instant
        /// Start of the current run of signs of life with no loss; nil after a loss or silence.
        var aliveSince: Instant?
        var lastLoss: Instant?
        /// When the latest probe that came back was sent.
        var lastAnswered: Instant?
        var nextProbe: Instant
        var rtt: Duration?
        var handshakeAge: Duration?
        var probes = 0
        var losses = 0
        /// Whether it showed any sign of life since the machine started.
        var seen = false
        /// Whether there is another path to it (the other hub's forwarder).
        var canDetour = false
        /// Whether it is reached through the detour now.
        var detoured = false
        /// When the path was last set (the start, or a flip).
        var pathSince: Instant
        /// How long a detour lasts before the direct path is tried again.
        var retryDirectAfter: Duration = .zero
        /// When the direct path was last tried again, until the next flip: the down timer counts
        /// from there, so a failed try (back to a detour that works) never takes the hub down.
        var retriedAt: Instant?

        /// Since when the hub has been silent, as far as being down goes.
        var silentSince: Instant { retriedAt.map { max($0, lastAlive) } ?? lastAlive }
    }

    enum Status: Equatable {
        /// Every hub in service: the plan's layout.
        case normal
        /// This hub (index) is out of service; its relayed prefixes are on the other.
        case without(Int)
        /// No hub in service: nothing relayed passes; the plan's layout stays until one returns.
        case noRelay
    }

    /// A change of the hubs in service and the instant it is applied.
    struct Switch: Equatable {
        var outOfService: [Int]
        var at: Instant
    }

    enum Action: Equatable {
        /// Send one probe through the tunnel to this hub's router address.
        case probe(hub: Int)
        /// Program the peers as they are with these hubs (indexes, sorted) out of service, at `at`:
        /// at once when it is not later than the tick's time (a hub lost), else at that instant (a
        /// return after the hold) unless `cancelReroute` comes first.
        case reroute(outOfService: [Int], at: Instant)
        /// The return announced for a later instant is off (a loss came first): the hubs in
        /// service stay as they are.
        case cancelReroute
        /// Point this hub's peer at its detour (the other hub's forwarder) or back at the hub itself.
        case path(hub: Int, detour: Bool)
    }

    let thresholds: Thresholds
    private(set) var hubs: [Hub]
    /// Times a hub was taken out of service while the other carried its prefixes.
    private(set) var failovers = 0
    /// Times a hub came back into service.
    private(set) var returns = 0

    /// Times a path flipped.
    private(set) var pathChanges = 0

    /// The return announced and not applied yet.
    private(set) var scheduled: Switch?

    /// A probe tick on the return grid: returns are applied half a probe interval after it, or a
    /// whole number of `returnGrid` later.
    let returnOrigin: Instant

    /// Starts trusting every hub, each on its direct path: a member that just joined routes as
    /// planned until a hub fails. Probes go at `firstProbe` and every interval after it (at once by
    /// default). `returnOrigin` is a tick on the return grid (`firstProbe` by default). `detours`
    /// says which hubs have a detour (none by default); `detoured` which start on it (a machine
    /// started again for a new plan keeps the paths that worked: such a hub counts as seen).
    init(
        hubs count: Int, thresholds: Thresholds, now: Instant, firstProbe: Instant? = nil,
        returnOrigin: Instant? = nil, detours: [Bool] = [], detoured: [Bool] = []
    ) {
        self.thresholds = thresholds
        self.returnOrigin = returnOrigin ?? firstProbe ?? now
        hubs = (0..<count).map { h in
            var hub = Hub(lastAlive: now, aliveSince: now, nextProbe: firstProbe ?? now, pathSince: now)
            hub.canDetour = h < detours.count && detours[h]
            hub.detoured = hub.canDetour && h < detoured.count && detoured[h]
            hub.seen = hub.detoured
            hub.retryDirectAfter = thresholds.returnAfter
            return hub
        }
    }

    /// Whether the path to hub `h` is open to a flip: it was seen once (a member that has just
    /// started waits for its first handshake on the planned path), or it is down.
    private func mayFlip(_ h: Int) -> Bool {
        hubs[h].canDetour && (hubs[h].seen || !hubs[h].up)
    }

    private var maxRetryDirect: Duration { thresholds.returnAfter * 32 }

    /// The next moment `tick` has something to do without new evidence: a probe is due, or a
    /// hub crosses a threshold. The caller sleeps until then (or until evidence arrives).
    var nextDeadline: Instant? {
        var deadlines = hubs.map(\.nextProbe)
        for h in hubs {
            if h.up {
                deadlines.append(
                    h.silentSince + (h.seen ? thresholds.downAfter : max(thresholds.downAfter, thresholds.returnAfter)))
            } else if let since = h.aliveSince {
                deadlines.append(since + thresholds.upAfter)
            }
        }
        for h in hubs.indices where !hubs[h].inService {
            // A return announced waits for its instant, not for the hold that ended.
            if let scheduled, !scheduled.outOfService.contains(h) { continue }
            if let since = hubs[h].aliveSince { deadlines.append(since + thresholds.returnAfter) }
        }
        if let scheduled { deadlines.append(scheduled.at) }
        for h in hubs.indices where mayFlip(h) {
            deadlines.append(max(hubs[h].lastAlive, hubs[h].pathSince) + thresholds.suspectAfter)
            if hubs[h].detoured { deadlines.append(hubs[h].pathSince + hubs[h].retryDirectAfter) }
        }
        return deadlines.min()
    }

    var outOfService: [Int] { hubs.indices.filter { !hubs[$0].inService } }

    var status: Status {
        let out = outOfService
        if out.isEmpty { return .normal }
        if out.count == hubs.count { return .noRelay }
        return .without(out[0])
    }

    /// The hub a member with primary `primary` sends its relayed traffic through; nil without one.
    func active(primary: Int) -> Int? {
        if hubs[primary].inService { return primary }
        return hubs.indices.first { hubs[$0].inService }
    }

    mutating func observe(hub h: Int, _ evidence: Evidence, at now: Instant) {
        switch evidence {
        case .reply(let rtt):
            hubs[h].probes += 1
            hubs[h].rtt = rtt
            hubs[h].lastAnswered = max(hubs[h].lastAnswered ?? now - rtt, now - rtt)
            alive(h, at: now)
        case .lost(let sent):
            hubs[h].probes += 1
            hubs[h].losses += 1
            // A probe sent before one that came back says nothing about now. The prober takes
            // replies and expiries in either order within one wake-up; a reply to the new tick's
            // probe taken before the expiry of the previous one would otherwise restart this
            // member's hold a tick after everyone else's, and members that return apart lose
            // the packets between them.
            if let answered = hubs[h].lastAnswered, sent < answered { break }
            hubs[h].lastLoss = now
            hubs[h].aliveSince = nil
        case .handshake(let age):
            hubs[h].handshakeAge = age
            // A hub that is down comes back on probe replies alone. Every member probes on the same
            // wall-clock tick, so all of them see it back on the same one and return together;
            // handshakes complete at each member's own WireGuard retry, up to 5 s apart, and two
            // members that return apart lose the packets between them (each one's source check
            // expects the other's prefixes from a different hub).
            guard hubs[h].up else { break }
            // A completed handshake proves both directions worked at that moment.
            let at = now - age
            if at > hubs[h].lastAlive && hubs[h].lastLoss.map({ at > $0 }) ?? true { alive(h, at: at) }
        }
    }

    private mutating func alive(_ h: Int, at t: Instant) {
        hubs[h].seen = true
        hubs[h].lastAlive = max(hubs[h].lastAlive, t)
        if hubs[h].aliveSince == nil { hubs[h].aliveSince = t }
    }

    /// A hub not heard from since the start gets `returnAfter`, not `downAfter`: the tunnels of a
    /// member that just started (or joined) may take a WireGuard retry (5 s) to come up, and a
    /// hub taken out of service for that would then be held out for `returnAfter`.
    func downAfter(_ h: Int) -> Duration {
        hubs[h].seen ? thresholds.downAfter : max(thresholds.downAfter, thresholds.returnAfter)
    }

    /// What to do at `now`: probes that are due, then a reroute if a hub left or rejoined service.
    mutating func tick(at now: Instant) -> [Action] {
        var actions: [Action] = []
        for h in hubs.indices where now >= hubs[h].nextProbe {
            actions.append(.probe(hub: h))
            // Stay on the grid unless the loop fell behind by more than one interval.
            let next = hubs[h].nextProbe + thresholds.probeInterval
            hubs[h].nextProbe = next > now ? next : now + thresholds.probeInterval
        }
        for h in hubs.indices {
            if now - hubs[h].silentSince >= downAfter(h) {
                hubs[h].up = false
                hubs[h].aliveSince = nil
            } else if !hubs[h].up, let since = hubs[h].aliveSince, now - since >= thresholds.upAfter {
                hubs[h].up = true
            }
        }
        for h in hubs.indices where mayFlip(h) {
            if now - max(hubs[h].lastAlive, hubs[h].pathSince) >= thresholds.suspectAfter {
                // Suspected: no sign of life on this path. A direct path that had worked for a
                // while starts the retries afresh; a failed retry keeps the longer wait.
                if !hubs[h].detoured && now - hubs[h].pathSince >= thresholds.returnAfter {
                    hubs[h].retryDirectAfter = thresholds.returnAfter
                }
                actions.append(flip(h, at: now))
            } else if hubs[h].detoured && now - hubs[h].pathSince >= hubs[h].retryDirectAfter {
                actions.append(flip(h, at: now))
                hubs[h].retryDirectAfter = min(hubs[h].retryDirectAfter * 2, maxRetryDirect)
                if hubs[h].up { hubs[h].retriedAt = now }
            }
        }
        actions += serviceChanges(at: now)
        return actions
    }

    /// A hub that is down leaves service at once, and so does the first hub up again when none is
    /// in service: the routes they leave carry nothing, and the sooner everyone moves the less
    /// is lost. A return after the hold waits for the next instant on the return grid.
    private mutating func serviceChanges(at now: Instant) -> [Action] {
        let before = outOfService
        for h in hubs.indices where hubs[h].inService && !hubs[h].up {
            hubs[h].inService = false
        }
        for h in hubs.indices where !hubs[h].inService && hubs[h].up && !hubs.contains(where: \.inService) {
            hubs[h].inService = true
        }
        let after = outOfService
        if after != before {
            if after.count == 1 && !before.contains(after[0]) { failovers += 1 }
            returns += before.filter { !after.contains($0) }.count
            scheduled = nil
            return [.reroute(outOfService: after, at: now)]
        }
        // Returns: hubs up for the hold without a loss.
        var returning: [Int] = []
        var holdEnds: Instant?
        for h in hubs.indices where !hubs[h].inService && hubs[h].up {
            guard let since = hubs[h].aliveSince, now - since >= thresholds.returnAfter else { continue }
            returning.append(h)
            holdEnds = max(holdEnds ?? since + thresholds.returnAfter, since + thresholds.returnAfter)
        }
        guard let holdEnds else {
            guard scheduled != nil else { return [] }
            scheduled = nil
            return [.cancelReroute]
        }
        let target = after.filter { !returning.contains($0) }
        let announced = scheduled?.outOfService == target
        let at = announced ? scheduled!.at : returnInstant(atOrAfter: holdEnds)
        if now >= at {
            for h in returning { hubs[h].inService = true }
            returns += returning.count
            scheduled = nil
            return announced ? [] : [.reroute(outOfService: target, at: at)]
        }
        if announced { return [] }
        scheduled = Switch(outOfService: target, at: at)
        return [.reroute(outOfService: target, at: at)]
    }

    /// The first instant on the return grid at or after `t`: the middle of a probe interval, a
    /// whole number of `returnGrid` after `returnOrigin`'s. Every member probes on the same
    /// wall-clock grid and ends the hold when the reply that started it plus `returnAfter` has
    /// passed: members that saw that reply on the same tick (a round trip under half an interval)
    /// get the same instant, and no probe of theirs is due then. Members that saw it a tick apart
    /// (a path that healed a moment later, a probe that left a moment earlier) get the same one
    /// too, unless a grid instant falls between their holds' ends.
    func returnInstant(atOrAfter t: Instant) -> Instant {
        let grid = thresholds.returnGrid
        guard grid > .zero else { return t }
        let first = returnOrigin + thresholds.probeInterval / 2
        // Whole grid steps from that instant to `t`, rounded up (in nanoseconds: exact).
        let step = grid.wholeNanoseconds
        let gap = (t - first).wholeNanoseconds
        let steps = gap >= 0 ? (gap + step - 1) / step : -(-gap / step)
        return first + grid * steps
    }

    private mutating func flip(_ h: Int, at now: Instant) -> Action {
        hubs[h].detoured.toggle()
        hubs[h].pathSince = now
        hubs[h].retriedAt = nil
        pathChanges += 1
        return .path(hub: h, detour: hubs[h].detoured)
    }
}
