import Hummingbird
import IntoneCore

extension ConsoleSite {
    struct DeadView {
        struct Option {
            var value: String
            var label: String
            var selected: Bool
        }

        struct Row {
            var id: String
            var time: String
            var jobID: String
            var agent: String
            var code: String
            var message: String
            var showURL: String
            var retryURL: String
            var deleteURL: String
        }

        var codeOptions: [Option]
        var code: String
        var summary: String
        var rows: [Row]
        var hasRows: Bool
        var newest: String
        var bulkLimit: String
        var hasOlder: Bool
        var olderURL: String
    }

    struct DeadLetterView {
        struct Field {
            var name: String
            var value: String
            var long: Bool
        }

        var id: String
        var found: Bool
        var fields: [Field]
        var retryURL: String
        var deleteURL: String
    }

    func deadLetters(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let query = FormData(query: request.uri.query)
        let code = query.bytes("code").flatMap { $0.isEmpty ? nil : $0 }
        let before = query.text("before")
        let actions = DeadLetterActions(keys: keys)
        let found = try await withQueue { access throws(RedisError) in try actions.list(code: code, before: before, access: access) }
        let rows = found.entries.enumerated().map { index, entry in
            // On a sharded queue a link names the letter's stream too.
            let ref = index < found.labels.count ? "\(entry.id)@\(found.labels[index])" : entry.id
            return DeadView.Row(
                id: entry.id, time: Display.time(milliseconds: entry.text("failed_at").flatMap { Int64($0) } ?? 0),
                jobID: Display.text(entry.value("job_id") ?? entry.value("entry_id")), agent: Display.text(entry.value("agent_id")),
                code: Display.text(entry.value("error")), message: Display.excerpt(Display.text(entry.value("message"))),
                showURL: "/dead/\(ref)", retryURL: "/dead/\(ref)/retry", deleteURL: "/dead/\(ref)/delete")
        }
        let codeText = Display.text(code)
        var options = [DeadView.Option(value: "", label: "any", selected: code == nil)]
        for known in JobErrorCode.allCases.map(\.rawValue) {
            options.append(.init(value: known, label: known, selected: known == codeText))
        }
        if code != nil, JobErrorCode(rawValue: codeText) == nil { options.append(.init(value: codeText, label: codeText, selected: true)) }
        let summary =
            code == nil
            ? "Showing the newest \(Display.count(rows.count)) of \(Display.count(found.total)) dead letters."
            : "Showing the newest \(Display.count(rows.count)) matching among the last \(Display.count(found.scanned)) dead letters (\(Display.count(found.matching)) matching; at most \(Display.count(DeadLetterActions.scanLimit)) are read per page)."
        let older = found.next.map { "/dead" + FormData.query([("code", code), ("before", Array($0.utf8))]) }
        let view = DeadView(
            codeOptions: options, code: codeText, summary: summary, rows: rows, hasRows: !rows.isEmpty, newest: found.newest ?? "",
            bulkLimit: Display.count(DeadLetterActions.bulkLimit), hasOlder: older != nil, olderURL: older ?? "")
        return page(
            "dead", title: "Dead letters", section: .dead, notice: Self.notice(query), context: context, view)
    }

    func deadLetter(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        let actions = DeadLetterActions(keys: keys)
        let letter = try await withQueue { access throws(RedisError) in try actions.show(id, access: access) }
        let fields = (letter?.fields ?? []).map { field in
            let value = Display.text(field.value)
            return DeadLetterView.Field(name: Display.text(field.name), value: value, long: value.count > 80 || value.contains("\n"))
        }
        let view = DeadLetterView(
            id: id, found: letter != nil, fields: fields, retryURL: "/dead/\(id)/retry", deleteURL: "/dead/\(id)/delete")
        return page(
            "deadLetter", title: "Dead letter", section: .dead, status: letter == nil ? .notFound : .ok,
            notice: Self.notice(FormData(query: request.uri.query)), context: context, view)
    }

    func retryOne(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        guard ShardedEntryID(parsing: id) != nil else {
            throw HTTPError(.badRequest, message: "A dead letter id is <ms>-<seq>, as listed.")
        }
        let actions = DeadLetterActions(keys: keys)
        let retried = try await withQueue(idempotent: false) { access throws(RedisError) in try actions.retry([id], access: access) }
        return redirect("/dead?done=retried&n=\(retried)")
    }

    func deleteOne(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        guard ShardedEntryID(parsing: id) != nil else {
            throw HTTPError(.badRequest, message: "A dead letter id is <ms>-<seq>, as listed.")
        }
        let actions = DeadLetterActions(keys: keys)
        let deleted = try await withQueue(idempotent: false) { access throws(RedisError) in try actions.delete([id], access: access) }
        return redirect("/dead?done=deleted&n=\(deleted)")
    }

    func retryMatching(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        try await bulk(context: context, verb: "retried") { actions, ids, access throws(RedisError) in
            try actions.retry(ids, access: access)
        }
    }

    func deleteMatching(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        try await bulk(context: context, verb: "deleted") { actions, ids, access throws(RedisError) in
            try actions.delete(ids, access: access)
        }
    }

    /// A bulk action on the letters matching the form's code, from its `newest` down.
    private func bulk(
        context: ConsoleRequestContext, verb: String,
        _ act: @escaping @Sendable (DeadLetterActions, [String], QueueAccess) throws(RedisError) -> Int
    ) async throws -> Response {
        let code = context.form.bytes("code").flatMap { $0.isEmpty ? nil : $0 }
        guard let newest = context.form.text("newest"), StreamEntry.isExactID(newest) else {
            throw HTTPError(.badRequest, message: "The form does not say where to start; reload the list and try again.")
        }
        let actions = DeadLetterActions(keys: keys)
        let (done, more) = try await withQueue(idempotent: false) { access throws(RedisError) in
            let selection = try actions.matching(code: code, newest: newest, access: access)
            return (try act(actions, selection.ids, access), selection.more)
        }
        let notice: [(String, [UInt8]?)] = [
            ("done", Array(verb.utf8)), ("n", Array(String(done).utf8)), ("more", more ? [UInt8(ascii: "1")] : nil),
        ]
        return redirect("/dead" + FormData.query(notice + [("code", code)]))
    }

    /// The message after an action, from fixed words and numbers only (a link cannot make
    /// the console say something else).
    static func notice(_ query: FormData) -> String? {
        guard let verb = query.text("done"), ["retried", "deleted"].contains(verb), let count = query.text("n").flatMap({ Int($0) }) else {
            return nil
        }
        var text = "\(verb.prefix(1).uppercased())\(verb.dropFirst()) \(Display.count(count)) dead letter\(count == 1 ? "" : "s")."
        if verb == "retried", count > 0 { text += " They are back on the jobs stream and will be answered again." }
        if query.text("more") == "1" {
            text += " Older matching letters may remain: run it again for the next \(DeadLetterActions.bulkLimit)."
        }
        return text
    }
}
