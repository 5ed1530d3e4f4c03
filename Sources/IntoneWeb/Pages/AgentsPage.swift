import Hummingbird
import IntoneCore

extension ConsoleSite {
    struct AgentsView {
        struct Row {
            var agent: String
            var editURL: String
            var tts: String
            var voice: String
            var rate: String
            var pitch: String
            var keywords: String
            var rateLimit: String
        }

        var rows: [Row]
        var summary: String
        var hasNext: Bool
        var nextURL: String
    }

    struct AgentEditView {
        struct Option {
            var value: String
            var label: String
            var selected: Bool
        }

        struct Stored {
            var name: String
            var value: String
        }

        var agent: String
        var actionURL: String
        var saved: Bool
        var error: String?
        var ttsOptions: [Option]
        var voice: String
        var rate: String
        var pitch: String
        var keywords: String
        var rateLimit: String
        var stored: [Stored]
        var hasStored: Bool
    }

    func agents(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let cursor = FormData(query: request.uri.query).text("cursor").flatMap { UInt64($0) } ?? 0
        let directory = AgentDirectory(keys: keys)
        let found = try await withRedis { connection throws(RedisError) in try directory.list(cursor: cursor, on: connection) }
        let rows = found.agents.map { agent in
            AgentsView.Row(
                agent: Display.text(agent.id), editURL: "/agents/edit" + FormData.query([("agent", agent.id)]),
                tts: agent.fields["tts"] ?? "",
                voice: agent.fields["voice"] ?? "", rate: agent.fields["rate"] ?? "", pitch: agent.fields["pitch"] ?? "",
                keywords: agent.fields["keywords"] ?? "", rateLimit: agent.fields["rate_limit"] ?? "")
        }
        var summary =
            "\(Display.count(rows.count)) agent\(rows.count == 1 ? "" : "s") with settings"
            + (cursor == 0 ? "" : " on this page") + " (keys \(keys.prefix)agent:*; an empty cell is the default)."
        if found.next != 0 {
            summary +=
                " More may follow: the keyspace is walked \(AgentDirectory.maxScanCalls * AgentDirectory.scanCount) keys at a time at most."
        }
        let view = AgentsView(rows: rows, summary: summary, hasNext: found.next != 0, nextURL: "/agents?cursor=\(found.next)")
        return page("agents", title: "Agents", section: .agents, context: context, view)
    }

    func agentForm(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let query = FormData(query: request.uri.query)
        let agent = try Self.agentID(query)
        let directory = AgentDirectory(keys: keys)
        let stored = try await withRedis { connection throws(RedisError) in try directory.settings(of: agent, on: connection) }
        return agentPage(agent: agent, values: stored, stored: stored, saved: query.text("saved") == "1", error: nil, context: context)
    }

    func saveAgent(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let agent = try Self.agentID(FormData(query: request.uri.query))
        var form: [AgentAdmin.Field: String] = [:]
        for field in AgentAdmin.Field.allCases { form[field] = Display.text(context.form.bytes(field.rawValue)) }
        // The voice list is loaded only when a voice is to be checked.
        let catalog = form[.voice]?.trimmingSpaces.isEmpty == false ? await voices.catalog() : nil
        let directory = AgentDirectory(keys: keys)
        let changes: (set: [AgentAdmin.Field: String], remove: [AgentAdmin.Field])
        do {
            changes = try AgentDirectory.changes(from: form, catalog: catalog)
        } catch {
            let stored = try await withRedis { connection throws(RedisError) in try directory.settings(of: agent, on: connection) }
            var entered: [String: String] = [:]
            for (field, value) in form { entered[field.rawValue] = value }
            return agentPage(
                agent: agent, values: entered, stored: stored, saved: false, error: "Not saved: " + error.message,
                status: .unprocessableContent,
                context: context)
        }
        try await withRedis(idempotent: false) { connection throws(RedisError) in
            try directory.save(agent, set: changes.set, remove: changes.remove, on: connection)
        }
        return redirect("/agents/edit" + FormData.query([("agent", agent), ("saved", Array("1".utf8))]))
    }

    private func agentPage(
        agent: [UInt8], values: [String: String], stored: [String: String], saved: Bool, error: String?, status: HTTPResponse.Status = .ok,
        context: ConsoleRequestContext
    ) -> Response {
        let tts = values["tts"] ?? ""
        var options = [AgentEditView.Option(value: "", label: "default (the workers' --default-tts)", selected: tts.isEmpty)]
        for value in ["on", "off", "keywords"] { options.append(.init(value: value, label: value, selected: tts.lowercased() == value)) }
        if !tts.isEmpty, !["on", "off", "keywords"].contains(tts.lowercased()) {
            options.append(.init(value: tts, label: tts + " (not valid)", selected: true))
        }
        let view = AgentEditView(
            agent: Display.text(agent), actionURL: "/agents/edit" + FormData.query([("agent", agent)]), saved: saved, error: error,
            ttsOptions: options, voice: values["voice"] ?? "", rate: values["rate"] ?? "", pitch: values["pitch"] ?? "",
            keywords: values["keywords"] ?? "", rateLimit: values["rate_limit"] ?? "",
            stored: stored.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) }, hasStored: !stored.isEmpty)
        return page("agentEdit", title: "Agent", section: .agents, status: status, context: context, view)
    }

    /// The agent id of a link or form: bytes, 1 to 256 of them.
    static func agentID(_ query: FormData) throws -> [UInt8] {
        guard let agent = query.bytes("agent"), !agent.isEmpty, agent.count <= AgentDirectory.maxIDBytes else {
            throw HTTPError(.badRequest, message: "Give an agent id of 1 to \(AgentDirectory.maxIDBytes) bytes.")
        }
        return agent
    }
}
