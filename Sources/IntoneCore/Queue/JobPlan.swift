/// What to do with a valid job once its agent's settings are known. Pure.
public enum JobPlan: Sendable, Equatable {
    /// Speak it, once both buckets admit it.
    case speak(SpeechRequest, agentLimit: RateLimit)
    /// Answer with text only: `agent_disabled` or `no_keyword`; no token is taken.
    case textOnly(reason: String)
    /// `expires_at` has passed: no rendering.
    case expired

    public static func make(
        for job: ValidJob, settings: AgentSettings, agentLimit: RateLimit, nowMilliseconds: Int64
    ) -> JobPlan {
        if let expires = job.expiresAtMilliseconds, nowMilliseconds > expires {
            return .expired
        }
        switch settings.tts {
        case .off:
            return .textOnly(reason: "agent_disabled")
        case .keywords:
            guard settings.keywordOccurs(in: job.prompt ?? job.text) else { return .textOnly(reason: "no_keyword") }
        case .on:
            break
        }
        let request = SpeechRequest(
            text: job.text,
            voice: job.voice ?? settings.voice,
            rate: job.rate ?? settings.rate,
            pitch: job.pitch ?? settings.pitch
        )
        return .speak(request, agentLimit: settings.rateLimit ?? agentLimit)
    }
}
