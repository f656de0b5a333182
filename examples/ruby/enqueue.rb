#!/usr/bin/env ruby
# frozen_string_literal: true

# examples/ruby/enqueue.rb — a runwayd producer in Ruby: pushes one job (wire contract
# v1, docs/job-format.md) onto <prefix>:jobs with a reply list of its own, waits for
# its result there, prints it.
#
#   ruby examples/ruby/enqueue.rb [--id ID] [--endpoint E] [--model M] [--prompt TEXT]
#       [--image URI] [--ratio W:H] [--duration S] [--charged N] [--user U]
#       [--client NAME] [--timeout S]
#
# Environment: REDIS_URL (default redis://127.0.0.1:6379), RUNWAY_PREFIX (default runway).
# The result event goes to stdout as one line of JSON, a summary to stderr.
# Exit codes: 0 succeeded, 1 failed or cancelled, 2 usage, 3 no result within --timeout,
# 4 Redis error. Standard library only (see resp.rb).
require 'json'
require 'optparse'
require 'securerandom'
require 'socket'
require_relative 'resp'

opts = { id: "rb_#{SecureRandom.hex(8)}", endpoint: 'text_to_video', model: 'gen4.5',
         prompt: 'a red kite over the sea', image: nil, ratio: '1280:720', duration: 5.0, charged: 0,
         user: nil, client: "rb-#{Socket.gethostname}-#{Process.pid}", timeout: 600.0 }
begin
  OptionParser.new do |o|
    o.banner = 'usage: enqueue.rb [options]'
    %i[id endpoint model prompt image ratio user client].each do |k|
      o.on("--#{k} VALUE", String) { |v| opts[k] = v }
    end
    o.on('--duration SECONDS', Float) { |v| opts[:duration] = v }
    o.on('--charged CREDITS', Integer) { |v| opts[:charged] = v }
    o.on('--timeout SECONDS', Float) { |v| opts[:timeout] = v }
  end.parse!
rescue OptionParser::ParseError => e
  warn "enqueue.rb: #{e.message}"
  exit 2
end

prefix = ENV.fetch('RUNWAY_PREFIX', 'runway')
reply_to = "#{prefix}:results:#{opts[:client]}"
duration = opts[:duration] == opts[:duration].floor ? opts[:duration].to_i : opts[:duration]
body = { model: opts[:model], promptText: opts[:prompt], ratio: opts[:ratio], duration: duration }
body[:promptImage] = opts[:image] if opts[:image]
job = { v: 1, id: opts[:id], endpoint: opts[:endpoint], body: body, charged: opts[:charged],
        reply_to: reply_to, meta: { producer: 'examples/ruby' } }
job[:user] = opts[:user] if opts[:user]

begin
  redis = Resp::Client.new(ENV.fetch('REDIS_URL', 'redis://127.0.0.1:6379'))
  redis.call('LPUSH', "#{prefix}:jobs", JSON.generate(job))
  warn "enqueued #{opts[:id]}; waiting for its result on #{reply_to}"
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + opts[:timeout]
  while (left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)).positive?
    raw = redis.brpop(reply_to, [left, 5].min)
    next if raw.nil?

    result = JSON.parse(raw)
    if result['id'] != opts[:id]
      warn "ignoring a result for another job on #{reply_to}"
      next
    end
    puts raw
    if result['status'] == 'succeeded'
      warn "#{opts[:id]} succeeded: #{Array(result['output']).join(' ')}"
      exit 0
    end
    err = result['error'] || {}
    note = result['refund'] ? " (refund of #{result['refund']['credits']} credits)" : ''
    warn "#{opts[:id]} #{result['status']}: #{err['class']} #{err['message']}#{note}"
    exit 1
  end
rescue Resp::Error, SystemCallError, IOError, SocketError => e
  warn "enqueue.rb: redis: #{e.message}"
  exit 4
end
warn "enqueue.rb: no result for #{opts[:id]} within #{opts[:timeout]}s"
exit 3
