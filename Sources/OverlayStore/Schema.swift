import GRDB

enum Schema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                    INSERT INTO meta (key, value) VALUES ('revision', 0);
                    CREATE TABLE networks (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        net_id TEXT NOT NULL UNIQUE,
                        prefix TEXT NOT NULL UNIQUE,
                        mtu INTEGER NOT NULL,
                        -- revision of the last change that reached every member's plan
                        plan_revision INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE nodes (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        identity BLOB NOT NULL UNIQUE,
                        public_addresses TEXT NOT NULL,
                        port_from INTEGER NOT NULL,
                        port_to INTEGER NOT NULL,
                        region TEXT,
                        hub INTEGER NOT NULL,
                        gateway INTEGER NOT NULL,
                        domain TEXT UNIQUE,
                        -- revision of the last change to this node's plan alone (gateway routes, leaving a network)
                        local_revision INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE memberships (
                        network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
                        node_id INTEGER NOT NULL REFERENCES nodes(id),
                        subnet_id INTEGER NOT NULL,
                        public_key BLOB NOT NULL UNIQUE,
                        sealed_private_key BLOB NOT NULL,
                        listen_port INTEGER NOT NULL,
                        pinned INTEGER NOT NULL DEFAULT 0,
                        -- revision of the last change to this member's own part (its workloads)
                        local_revision INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (network_id, node_id),
                        UNIQUE (network_id, subnet_id),
                        UNIQUE (node_id, listen_port)
                    );
                    CREATE INDEX memberships_node ON memberships(node_id);
                    CREATE TABLE workloads (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        network_id INTEGER NOT NULL REFERENCES networks(id),
                        node_id INTEGER NOT NULL REFERENCES nodes(id),
                        host_number INTEGER NOT NULL,
                        namespace TEXT NOT NULL,
                        exposed TEXT NOT NULL,
                        UNIQUE (network_id, node_id, host_number),
                        UNIQUE (node_id, namespace)
                    );
                    CREATE TABLE access_peers (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        network_id INTEGER NOT NULL REFERENCES networks(id),
                        host_number INTEGER NOT NULL,
                        public_key BLOB NOT NULL UNIQUE,
                        hub_node_id INTEGER NOT NULL REFERENCES nodes(id),
                        UNIQUE (network_id, host_number)
                    );
                    CREATE TABLE gateway_routes (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        node_id INTEGER NOT NULL REFERENCES nodes(id),
                        match TEXT NOT NULL,
                        tls_passthrough INTEGER NOT NULL,
                        backends TEXT NOT NULL,
                        UNIQUE (node_id, match)
                    );
                    """)
        }
        // Nodes may be added before they join (no identity yet); join tokens, admin tokens and
        // agent status reports. Tokens are stored only as SHA-256 hashes.
        m.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    CREATE TABLE nodes_v2 (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        -- NULL until the node joins with a join token
                        identity BLOB UNIQUE,
                        public_addresses TEXT NOT NULL,
                        port_from INTEGER NOT NULL,
                        port_to INTEGER NOT NULL,
                        region TEXT,
                        hub INTEGER NOT NULL,
                        gateway INTEGER NOT NULL,
                        domain TEXT UNIQUE,
                        local_revision INTEGER NOT NULL DEFAULT 0
                    );
                    INSERT INTO nodes_v2 SELECT * FROM nodes;
                    DROP TABLE nodes;
                    ALTER TABLE nodes_v2 RENAME TO nodes;
                    CREATE TABLE join_tokens (
                        hash TEXT PRIMARY KEY,
                        node_id INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
                        expires_at INTEGER NOT NULL,
                        used_at INTEGER
                    );
                    CREATE TABLE admin_tokens (
                        name TEXT PRIMARY KEY,
                        hash TEXT NOT NULL UNIQUE,
                        created_at INTEGER NOT NULL
                    );
                    CREATE TABLE agent_status (
                        node_id INTEGER PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
                        reported_at INTEGER NOT NULL,
                        report TEXT NOT NULL
                    );
                    """)
        }
        // Gateway routes: balancing, and TLS terminated at the gateway (the certificate in
        // clear, its private key sealed to the gateway node's identity).
        m.registerMigration("v2-gateway-tls") { db in
            try db.execute(
                sql: """
                    ALTER TABLE gateway_routes ADD COLUMN balance TEXT NOT NULL DEFAULT 'roundrobin';
                    ALTER TABLE gateway_routes ADD COLUMN tls_certificate TEXT;
                    ALTER TABLE gateway_routes ADD COLUMN tls_sealed_key BLOB;
                    """)
        }
        // The signed time and nonce of the report kept, so a replayed report is refused even
        // after a restart has emptied the controller's in-memory nonce cache.
        m.registerMigration("v3-status-signature") { db in
            try db.execute(
                sql: """
                    ALTER TABLE agent_status ADD COLUMN signed_at INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE agent_status ADD COLUMN nonce TEXT NOT NULL DEFAULT '';
                    """)
        }
        // Join tokens can be listed (by an id: a prefix of the hash, never the secret) and revoked.
        m.registerMigration("v3-join-token-created") { db in
            try db.execute(sql: "ALTER TABLE join_tokens ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0")
        }
        // IPv4 beside IPv6, and egress. Networks that exist already stay IPv6-only and sealed:
        // giving them either would change what their workloads can reach without anyone asking.
        m.registerMigration("v3-ipv4-egress") { db in
            try db.execute(
                sql: """
                    ALTER TABLE networks ADD COLUMN ipv4_prefix TEXT;
                    ALTER TABLE networks ADD COLUMN egress INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        // Tenants: an admin token may act for one tenant (NULL: the operator), and a network
        // belongs to the tenant whose token created it (NULL: the operator's).
        m.registerMigration("v4-tenants") { db in
            try db.execute(
                sql: """
                    ALTER TABLE admin_tokens ADD COLUMN tenant TEXT;
                    ALTER TABLE networks ADD COLUMN owner TEXT;
                    CREATE INDEX networks_owner ON networks(owner);
                    """)
        }
        return m
    }
}
