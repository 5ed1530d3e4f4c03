/// What to do with a valid job once its agent's settings are known. Pure.
public enum JobPlan: Sendable, Equatable {
    /// Speak it, once both buckets admit it.
    case speak(SpeechRequest, agentLimit: RateLimit)
    /// Answer with text only; no token is taken.
    case textOnly(TextOnlyReason)
    /// `expires_at` has passed: no rendering.
    case expired

    /// `nowMilliseconds` is Redis's clock, as the worker last read it. The format is the
    /// job's, else the agent's, else the worker's (`defaultFormat`).
    public static func make(
        for job: ValidJob, settings: AgentSettings, agentLimit: RateLimit, nowMilliseconds: Int64, defaultFormat: AudioFormat = .wav
    ) -> JobPlan {
        if let expires = job.expiresAtMilliseconds, nowMilliseconds > expires {
            return .expired
        }
        switch settings.tts {
        case .off:
            return .textOnly(.agentDisabled)
        case .keywords:
            guard settings.keywordOccurs(in: job.prompt ?? job.text) else { return .textOnly(.noKeyword) }
        case .on:
            break
        }
        let request = SpeechRequest(
            text: job.text,
            voice: job.voice ?? settings.voice,
            rate: job.rate ?? settings.rate,
            pitch: job.pitch ?? settings.pitch,
            streamed: job.stream ?? settings.stream,
            format: job.format ?? settings.format ?? defaultFormat
        )
        return .speak(request, agentLimit: settings.rateLimit ?? agentLimit)
    }
}
