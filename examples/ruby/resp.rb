# frozen_string_literal: true

# examples/ruby/resp.rb — a minimal Redis client (RESP2 over TCP or a unix socket) on
# Ruby's standard library only, enough for the runwayd examples. A real service would
# use the redis gem; this keeps the examples runnable with nothing but `ruby`.
require 'socket'
require 'uri'

module Resp
  class Error < StandardError; end # an error reply ("WRONGTYPE ...")

  class Client
    # url: redis://[user:password@]host[:port][/db] or unix:///path[?db=N]
    def initialize(url)
      uri = URI.parse(url)
      case uri.scheme
      when 'redis'
        @sock = Socket.tcp(uri.host, uri.port || 6379, connect_timeout: 5)
        db = uri.path.to_s.delete_prefix('/')
      when 'unix'
        @sock = UNIXSocket.new(uri.path)
        db = URI.decode_www_form(uri.query.to_s).to_h['db']
      else
        raise ArgumentError, "redis url: expected redis:// or unix://, got #{url.inspect}"
      end
      user = uri.user && URI.decode_www_form_component(uri.user)
      password = uri.password && URI.decode_www_form_component(uri.password)
      if password
        user.to_s.empty? ? call('AUTH', password) : call('AUTH', user, password)
      elsif user && !user.empty?
        call('AUTH', user) # redis://password@host
      end
      call('SELECT', db) if db && !db.empty? && db != '0'
    end

    # Sends one command; returns a String, Integer, nil or Array; raises Resp::Error.
    def call(*args)
      @sock.write("*#{args.size}\r\n" + args.map { |a| s = a.to_s.b; "$#{s.bytesize}\r\n#{s}\r\n" }.join)
      reply = read
      raise reply if reply.is_a?(Error)

      reply
    end

    # The oldest element of key, waiting up to `seconds` (at least 1); nil when none came.
    def brpop(key, seconds)
      pair = call('BRPOP', key, [seconds.to_i, 1].max)
      pair && pair[1]
    end

    def close
      @sock.close
    end

    private

    def line
      l = @sock.gets("\r\n") or raise EOFError, 'redis closed the connection'
      l.chomp("\r\n")
    end

    def read
      l = line
      case l[0]
      when '+' then l[1..]
      when '-' then Error.new(l[1..])
      when ':' then Integer(l[1..])
      when '$'
        n = Integer(l[1..])
        return nil if n.negative?

        data = @sock.read(n + 2)
        data[0, n].force_encoding(Encoding::UTF_8)
      when '*'
        n = Integer(l[1..])
        n.negative? ? nil : Array.new(n) { read }
      else
        raise Error, "unexpected reply #{l.inspect}"
      end
    end
  end
end
