/// The one check `intone enqueue` makes before it sends a job, for a single job and for
/// every line of a file alike: the worker's own validation (`JobValidation`), so a job
/// the worker would refuse is refused here, with the same code and message, and the
/// job's `format` (contract 1.1) by the format names' own parser.
public struct EnqueueCheck: Sendable {
    let validation: JobValidation

    public init(keys: QueueKeys, maxTextBytes: Int, catalog: VoiceCatalog?) {
        validation = JobValidation(maxTextBytes: maxTextBytes, keys: keys, catalog: catalog)
    }

    /// nil when the job may be sent; otherwise why not, as the worker would answer it.
    public func problem(_ fields: [(String, String)]) -> JobFailure? {
        // Checked exactly as the worker will check it (the entry id is not known yet).
        let job = Job(entryID: "0-0", fields: fields.map { Job.Field($0.0, $0.1) })
        if case .failure(let failure) = validation.validate(job) { return failure }
        if let format = job.value("format") {
            do throws(AudioFormatError) {
                _ = try AudioFormat(parsing: String(decoding: format, as: UTF8.self))
            } catch {
                return JobFailure(.badParameter, DisplayText.escaped(error.message))
            }
        }
        return nil
    }

    /// The line an operator reads: `code: message`.
    public static func describe(_ failure: JobFailure) -> String {
        "\(failure.code.rawValue): \(failure.message)"
    }
}
