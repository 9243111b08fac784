import Foundation

extension Store {
    /// Uses up `nonce` of `scope` (a node, or a key that is joining) at `now` (Unix seconds): true
    /// the first time, false when it was already used after `now - window`. One statement on
    /// either engine, committed on its own, so two replicas sharing the database cannot both
    /// accept the same request.
    public func useNonce(_ nonce: String, scope: String, now: Int64, window: Int64) throws -> Bool {
        // A nonce seen before the window is taken again: the request is refused for its time anyway.
        let sql = """
            INSERT INTO agent_nonces (scope, nonce, seen_at) VALUES (?, ?, ?)
            ON CONFLICT (scope, nonce) DO UPDATE SET seen_at = excluded.seen_at WHERE agent_nonces.seen_at < ?
            """
        let arguments: [any SQLBindable] = [scope, nonce, now, now - window]
        let changed =
            switch engine {
            case .sqlite(let pool): try pool.write { db in try SQLiteConnection(db: db).execute(sql, arguments) }
            case .postgres(let pg): try pg.autocommit { try $0.execute(sql, arguments) }
            }
        return changed == 1
    }

    /// Forgets the nonces used before `cutoff`.
    public func pruneNonces(before cutoff: Int64) throws {
        let sql = "DELETE FROM agent_nonces WHERE seen_at < ?"
        switch engine {
        case .sqlite(let pool): _ = try pool.write { db in try SQLiteConnection(db: db).execute(sql, [cutoff]) }
        case .postgres(let pg): _ = try pg.autocommit { try $0.execute(sql, [cutoff]) }
        }
    }

    /// How many nonces are kept (for tests and diagnostics).
    public func nonceCount() throws -> Int {
        try read { tx in try tx.row("SELECT count(*) FROM agent_nonces")?.int(0) ?? 0 }
    }
}
