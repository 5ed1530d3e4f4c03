# The agent-reply job as a team would write it for Sidekiq 6 (Debian's ruby-sidekiq):
# the agent's settings cached for two seconds, both token buckets in one Lua call on
# Redis's clock, the reply rendered by the `espeak-ng` command, and the result, the audio
# and the job's acknowledgement written in one MULTI/EXEC.
#
# Worker:   sidekiq -r ./bench/peers/sidekiq_worker.rb -c 5 -q default
# Producer: ruby bench/peers/sidekiq_worker.rb enqueue < jobs.tsv   (job_id TAB agent TAB user TAB text)
#
# Environment (bench/peers/peers.py sets it):
#   PEER_REDIS_URL        redis://127.0.0.1:PORT/0
#   PEER_FETCH            acked (default): BLMOVE into a list of this process's jobs in hand,
#                         removed (LREM) in the MULTI that writes the result; a job in hand
#                         when the process stops is pushed back. basic: Sidekiq's own BRPOP
#                         fetch, which has nothing to acknowledge (a job in hand is lost if the
#                         process dies).
#   PEER_AGENT_RATE       "rate,burst" of each agent's bucket
#   PEER_USER_RATE        "rate,burst" of each user's bucket
#   PEER_RESULTS_MAXLEN   MAXLEN ~ of the results stream (Intone gets the same)
require "sidekiq"
require "sidekiq/fetch"
require "digest"
require "socket"
require "logger"

# redis-rb 4.8 warns about a future change of SADD on every push; Sidekiq ignores the reply.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

module Peer
  URL = ENV.fetch("PEER_REDIS_URL", "redis://127.0.0.1:6379/0")
  FETCH = ENV.fetch("PEER_FETCH", "acked")
  AGENT_RATE = ENV.fetch("PEER_AGENT_RATE", "20,40").split(",").map(&:to_f)
  USER_RATE = ENV.fetch("PEER_USER_RATE", "2,5").split(",").map(&:to_f)
  RESULTS_MAXLEN = Integer(ENV.fetch("PEER_RESULTS_MAXLEN", "100000"))
  RESULTS = "peer:results"
  AUDIO_TTL_S = 3600
  SETTINGS_REFRESH_S = 2.0
  BUCKETS = File.read(File.join(__dir__, "buckets.lua"))
  BUCKETS_SHA = Digest::SHA1.hexdigest(BUCKETS)

  # Agent settings (`peer:agent:<id>`, field `tts`), read at most every two seconds per
  # agent and process, as Intone's workers do.
  class AgentSettings
    def initialize
      @lock = Mutex.new
      @cache = {}
    end

    def voice_on?(agent_id, redis)
      now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      cached = @lock.synchronize { @cache[agent_id] }
      if cached.nil? || now - cached[1] > SETTINGS_REFRESH_S
        cached = [redis.hget("peer:agent:#{agent_id}", "tts") != "off", now]
        @lock.synchronize { @cache[agent_id] = cached }
      end
      cached[0]
    end
  end
  SETTINGS = AgentSettings.new

  # Sidekiq's own BasicFetch takes a job with BRPOP: nothing is left to acknowledge. This
  # fetch moves the job into a list of the jobs this process holds; the job removes it in
  # the same MULTI as its result (the acknowledgement), so a result and its
  # acknowledgement are written together or not at all.
  class AckedFetch
    TIMEOUT_S = 2

    class Unit
      attr_reader :queue, :job, :holding

      def initialize(queue, job, holding)
        @queue = queue
        @job = job
        @holding = holding
        @acknowledged = false
      end

      def queue_name = queue.delete_prefix("queue:")

      # The job calls this inside its MULTI.
      def acknowledge_in(transaction)
        transaction.lrem(holding, 1, job)
        @acknowledged = true
      end

      # Sidekiq calls this after the job (also after a failure it has scheduled for retry).
      def acknowledge
        return if @acknowledged
        Sidekiq.redis { |r| r.lrem(holding, 1, job) }
      end

      def requeue
        Sidekiq.redis do |r|
          r.multi do |m|
            m.lrem(holding, 1, job)
            m.rpush(queue, job)
          end
        end
      end
    end

    def initialize(options)
      @queue = "queue:#{Array(options[:queues]).first || "default"}"
      @holding = "peer:holding:#{Socket.gethostname}:#{Process.pid}"
    end

    def retrieve_work
      job = Sidekiq.redis { |r| r.blmove(@queue, @holding, "RIGHT", "LEFT", timeout: TIMEOUT_S) }
      return nil unless job
      unit = Unit.new(@queue, job, @holding)
      # Sidekiq runs the job on the thread that fetched it.
      Thread.current[:peer_unit] = unit
      unit
    end

    def bulk_requeue(in_progress, _options)
      in_progress.each(&:requeue)
    end
  end
end

Sidekiq.configure_server do |config|
  config.redis = {url: Peer::URL}
  # Nothing per job at info: the peer is as quiet as Intone's workers.
  config.logger.level = Logger::WARN
  config.options[:fetch] = Peer::AckedFetch.new(config.options) if Peer::FETCH == "acked"
end
Sidekiq.configure_client { |config| config.redis = {url: Peer::URL} }

class ReplyJob
  include Sidekiq::Worker
  sidekiq_options retry: false

  def perform(job_id, agent_id, user_id, text)
    unit = Thread.current[:peer_unit]
    Sidekiq.redis do |r|
      result = {"job_id" => job_id, "agent_id" => agent_id, "user_id" => user_id}
      audio = nil
      if !Peer::SETTINGS.voice_on?(agent_id, r)
        result.update("status" => "text_only", "reason" => "agent_disabled")
      else
        verdict = admit(r, agent_id, user_id)
        if verdict == 0
          audio = IO.popen(["espeak-ng", "--stdout", text], "rb", &:read)
          raise "espeak-ng failed: #{$?}" unless $?.success?
          result.update("status" => "ok", "bytes" => audio.bytesize)
        else
          result.update("status" => "rate_limited", "limit" => verdict[0] == 1 ? "agent" : "user",
            "retry_after_ms" => verdict[1])
        end
      end
      r.multi do |m|
        m.set("peer:audio:#{job_id}", audio, ex: Peer::AUDIO_TTL_S) if audio
        m.xadd(Peer::RESULTS, result, maxlen: Peer::RESULTS_MAXLEN, approximate: true)
        unit.acknowledge_in(m) if unit.respond_to?(:acknowledge_in)
      end
    end
  end

  private

  def admit(r, agent_id, user_id)
    keys = ["peer:bucket:agent:#{agent_id}", "peer:bucket:user:#{user_id}"]
    argv = Peer::AGENT_RATE + Peer::USER_RATE
    r.evalsha(Peer::BUCKETS_SHA, keys: keys, argv: argv)
  rescue Redis::CommandError => e
    raise unless e.message.start_with?("NOSCRIPT")
    r.eval(Peer::BUCKETS, keys: keys, argv: argv)
  end
end

# The producer: Sidekiq's own client, a thousand jobs a call.
if $PROGRAM_NAME == __FILE__ && ARGV.first == "enqueue"
  $stdin.each_line.map { |line| line.chomp.split("\t", 4) }.each_slice(1000) do |slice|
    Sidekiq::Client.push_bulk("class" => ReplyJob, "args" => slice, "queue" => "default")
  end
end
