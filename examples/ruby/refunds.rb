#!/usr/bin/env ruby
# frozen_string_literal: true

# examples/ruby/refunds.rb — a runwayd refund consumer in Ruby: takes refund events from
# <prefix>:refunds (BRPOP, oldest first) and applies each exactly once by refund_id.
#
#   ruby examples/ruby/refunds.rb [--db FILE] [--count N] [--idle S]
#
# The state is a PStore (default ./refunds.pstore): applied refunds by refund_id and the
# users' balances, written in one transaction per refund (PStore writes a new file and
# renames it), so the id and the credit are recorded together.
# Prints "refunded N credits to USER (REFUND_ID)" per applied refund; duplicates and
# malformed events go to stderr. Environment: REDIS_URL, RUNWAY_PREFIX.
require 'json'
require 'optparse'
require 'pstore'
require 'time'
require_relative 'resp'

opts = { db: 'refunds.pstore', count: 0, idle: 0.0 }
begin
  OptionParser.new do |o|
    o.on('--db FILE', String) { |v| opts[:db] = v }
    o.on('--count N', Integer) { |v| opts[:count] = v }
    o.on('--idle SECONDS', Float) { |v| opts[:idle] = v }
  end.parse!
rescue OptionParser::ParseError => e
  warn "refunds.rb: #{e.message}"
  exit 2
end

store = PStore.new(opts[:db], true) # thread-safe; ultra_safe writes below
store.ultra_safe = true

# Applies one refund event; true when applied, false for a refund_id already applied.
def apply_refund(store, event)
  store.transaction do
    store[:applied] ||= {}
    store[:balances] ||= Hash.new(0)
    next false if store[:applied].key?(event['refund_id'])

    store[:applied][event['refund_id']] = { user: event['user'], credits: event['credits'],
                                            reason: event['reason'], applied_at: Time.now.utc.iso8601(3) }
    store[:balances][event['user']] += event['credits'] unless event['user'].nil?
    true
  end
end

def refund?(e)
  e.is_a?(Hash) && e['v'] == 1 && e['refund_id'].is_a?(String) && e['credits'].is_a?(Integer) && e['credits'] >= 0
end

prefix = ENV.fetch('RUNWAY_PREFIX', 'runway')
seen = 0
quiet_since = Process.clock_gettime(Process::CLOCK_MONOTONIC)
begin
  redis = Resp::Client.new(ENV.fetch('REDIS_URL', 'redis://127.0.0.1:6379'))
  while opts[:count].zero? || seen < opts[:count]
    raw = redis.brpop("#{prefix}:refunds", 1)
    if raw.nil?
      break if opts[:idle].positive? && Process.clock_gettime(Process::CLOCK_MONOTONIC) - quiet_since >= opts[:idle]

      next
    end
    seen += 1
    quiet_since = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    event = begin
      JSON.parse(raw)
    rescue JSON::ParserError
      nil
    end
    if !refund?(event)
      warn "refunds.rb: skipping an event that is not a v1 refund: #{raw}"
    elsif apply_refund(store, event)
      puts "refunded #{event['credits']} credits to #{event['user']} (#{event['refund_id']})"
      $stdout.flush
    else
      warn "refunds.rb: refund #{event['refund_id']} already applied; ignoring the duplicate"
    end
  end
rescue Resp::Error, SystemCallError, IOError, SocketError => e
  warn "refunds.rb: redis: #{e.message}"
  exit 4
end
