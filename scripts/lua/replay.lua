-- scripts/lua/replay.lua — move chosen <prefix>:dead entries back to <prefix>:jobs, atomically.
--
--   redis-cli --eval scripts/lua/replay.lua <prefix>:dead <prefix>:jobs , --prefix <prefix> [options]
--
-- scripts/replay is the friendly way to run it; docs/replay.md describes every option.
-- Options (ARGV, in any order; a repeated filter means "any of these"; different
-- filters must all hold):
--   --prefix P            required; KEYS must be P:dead and P:jobs
--   --class C[,C...]      error class (repeatable)
--   --reason TEXT         case-insensitive plain substring of the reason (repeatable)
--   --id GLOB             Redis-style glob on the job id: * ? [abc] [a-z] [^a] \x (repeatable)
--   --older-than D        dead for at least D  (D: 90s, 30m, 2h, 7d, 1w, or sums like 1d12h)
--   --newer-than D        dead for less than D
--   --limit N             move at most N entries (the oldest first)
--   --dry-run             decide and report, write nothing
--   --force               also move ids whose dedup marker says "succeeded", ids an earlier
--                         replay queued that no daemon took yet, and charged jobs whose
--                         refund marker is gone (see docs/replay.md)
--   --format text|json    the summary's form (default text)
--
-- The script scans the dead list oldest first (it is LPUSHed, so from the tail),
-- decides every entry, and only then writes: for each chosen entry it removes that
-- exact entry from the dead list, LPUSHes the entry's `job` (the raw job, unchanged)
-- onto the jobs list, deletes P:done:<id> (the dedup marker that would make the
-- daemon reject the id), deletes P:cancelreq:<id> and the id from P:cancel (an older
-- operator's cancel that would stop the replayed job at admission), sets P:replayed:<id> (the daemon reads it
-- once and marks the result "replayed": true) and lengthens an existing P:refunded:<id> to at least
-- the replayed marker's lifetime, so a job whose refund was emitted is not refunded
-- again whatever it waits in the queue. It never creates or deletes a refund marker.
--
-- Keys other than KEYS[1..2] are computed from the prefix; on Redis Cluster use a
-- braced prefix ({runway}) so every key is in one slot, as the daemon requires.
--
-- Returns a two-element array: the marker "runwayd-replay/1" and the summary (text or
-- JSON). Errors are error replies; a usage error starts with "USAGE".

if redis.replicate_commands then pcall(redis.replicate_commands) end  -- Redis < 7: TIME before writes

local REPLAYED_TTL = 604800  -- 7 days: P:replayed:<id>, and the floor for P:refunded:<id>
local MAX_IDS = 50           -- ids listed in the summary
local CHUNK = 1000           -- LRANGE page size while scanning
local TOMBSTONE_PREFIX = '\0runwayd-replay-tombstone\0'

local CLASSES = {
  invalid_job = true, invalid_input = true, moderation = true, upstream_failure = true,
  upstream_insufficient_credits = true, upstream_unavailable = true, account_unusable = true,
  deadline_exceeded = true, outcome_unknown = true, cancelled = true,
}

local function usage(msg) return redis.error_reply('USAGE ' .. msg) end

-- ---------------------------------------------------------------- helpers

-- "90s", "30m", "2h", "7d", "1w", "1d12h" -> milliseconds; nil when malformed.
local function parse_duration(s)
  if type(s) ~= 'string' or s == '' then return nil end
  local unit = {s = 1000, m = 60000, h = 3600000, d = 86400000, w = 604800000}
  local total, pos = 0, 1
  while pos <= #s do
    local num, u, nxt = s:match('^(%d+)([smhdw])()', pos)
    if not num or #num > 9 then return nil end
    total = total + tonumber(num) * unit[u]
    pos = nxt
  end
  return total
end

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m > 2) and (m - 3) or (m + 9)
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- RFC 3339 ("2026-11-27T22:40:00.123Z", "...+02:00") -> Unix ms; nil when malformed.
local function parse_time(s)
  if type(s) ~= 'string' then return nil end
  local y, mo, d, h, mi, sec, rest = s:match('^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$')
  if not y then return nil end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  local ms = 0
  local frac, zone = rest:match('^%.(%d+)(.*)$')
  if frac then
    ms = math.floor(tonumber(('0.' .. frac)) * 1000 + 0.5)
    if ms > 999 then ms = 999 end
  else
    zone = rest
  end
  local offset = 0
  if zone ~= 'Z' and zone ~= 'z' then
    local sign, oh, om = zone:match('^([+-])(%d%d):(%d%d)$')
    if not sign then return nil end
    offset = (tonumber(oh) * 60 + tonumber(om)) * 60000
    if sign == '-' then offset = -offset end
  end
  local days = days_from_civil(y, mo, d)
  return ((days * 24 + h) * 60 + mi) * 60000 + sec * 1000 + ms - offset
end

-- A Redis-style glob compiled to single-byte tokens; nil, error when malformed.
local function compile_glob(p)
  local toks, i, n = {}, 1, #p
  while i <= n do
    local c = p:sub(i, i)
    if c == '*' then
      if not (toks[#toks] and toks[#toks].star) then toks[#toks + 1] = {star = true} end
      i = i + 1
    elseif c == '?' then
      toks[#toks + 1] = {any = true}
      i = i + 1
    elseif c == '\\' then
      if i == n then return nil, 'pattern ends with a lone backslash' end
      toks[#toks + 1] = {lit = p:byte(i + 1)}
      i = i + 2
    elseif c == '[' then
      local t = {ranges = {}, neg = false}
      i = i + 1
      if p:sub(i, i) == '^' then t.neg = true; i = i + 1 end
      local closed = false
      local first = true
      while i <= n do
        local ch = p:sub(i, i)
        if ch == ']' and not first then closed = true; i = i + 1; break end
        local lo
        if ch == '\\' then
          if i == n then break end
          lo = p:byte(i + 1); i = i + 2
        else
          lo = p:byte(i); i = i + 1
        end
        local hi = lo
        if p:sub(i, i) == '-' and i < n and p:sub(i + 1, i + 1) ~= ']' then
          if p:sub(i + 1, i + 1) == '\\' then
            if i + 1 == n then break end
            hi = p:byte(i + 2); i = i + 3
          else
            hi = p:byte(i + 1); i = i + 2
          end
          if hi < lo then lo, hi = hi, lo end
        end
        t.ranges[#t.ranges + 1] = {lo, hi}
        first = false
      end
      if not closed then return nil, 'unclosed [ in pattern' end
      toks[#toks + 1] = t
    else
      toks[#toks + 1] = {lit = p:byte(i)}
      i = i + 1
    end
  end
  return toks
end

local function token_matches(t, b)
  if t.any then return true end
  if t.lit then return t.lit == b end
  local inside = false
  for _, r in ipairs(t.ranges) do
    if b >= r[1] and b <= r[2] then inside = true; break end
  end
  return inside ~= t.neg
end

-- Greedy match with backtracking to the last star: linear-ish, never exponential.
local function glob_match(toks, s)
  local ti, si, n, m = 1, 1, #toks, #s
  local star_ti, star_si = nil, 0
  while si <= m do
    local t = toks[ti]
    if t and t.star then
      star_ti, star_si = ti, si
      ti = ti + 1
    elseif t and token_matches(t, s:byte(si)) then
      ti, si = ti + 1, si + 1
    elseif star_ti then
      star_si = star_si + 1
      ti, si = star_ti + 1, star_si
    else
      return false
    end
  end
  while toks[ti] and toks[ti].star do ti = ti + 1 end
  return ti > n
end

local function split_commas(s, out)
  for part in (s .. ','):gmatch('([^,]*),') do
    part = part:match('^%s*(.-)%s*$')
    if part ~= '' then out[#out + 1] = part end
  end
end

local function json_str(s) return cjson.encode(s) end

local function json_list(items)
  local parts = {}
  for i, v in ipairs(items) do parts[i] = v end
  return '[' .. table.concat(parts, ',') .. ']'
end

local function fmt_time(ms)
  -- Only for the summary: seconds precision is enough.
  local secs = math.floor(ms / 1000)
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  -- civil_from_days
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = (mp < 10) and (mp + 3) or (mp - 9)
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02dZ', y, m, d, math.floor(rem / 3600),
                       math.floor((rem % 3600) / 60), rem % 60)
end

-- ---------------------------------------------------------------- options

local opt = {classes = nil, reasons = nil, globs = nil, older = nil, newer = nil, limit = nil,
             dry = false, force = false, format = 'text', prefix = nil}
local i = 1
while i <= #ARGV do
  local a = ARGV[i]
  local function value()
    local v = ARGV[i + 1]
    if v == nil then return nil end
    i = i + 1
    return v
  end
  if a == '--dry-run' then
    opt.dry = true
  elseif a == '--force' then
    opt.force = true
  elseif a == '--prefix' then
    opt.prefix = value()
    if not opt.prefix or opt.prefix == '' then return usage('--prefix needs a value') end
  elseif a == '--class' then
    local v = value()
    if not v then return usage('--class needs a value') end
    opt.classes = opt.classes or {}
    local list = {}
    split_commas(v, list)
    if #list == 0 then return usage('--class needs at least one error class') end
    for _, c in ipairs(list) do
      if not CLASSES[c] then return usage('unknown error class: ' .. c) end
      opt.classes[c] = true
    end
  elseif a == '--reason' then
    local v = value()
    if not v or v == '' then return usage('--reason needs a non-empty text') end
    opt.reasons = opt.reasons or {}
    opt.reasons[#opt.reasons + 1] = v:lower()
  elseif a == '--id' then
    local v = value()
    if not v or v == '' then return usage('--id needs a pattern') end
    local toks, err = compile_glob(v)
    if not toks then return usage('--id ' .. v .. ': ' .. err) end
    opt.globs = opt.globs or {}
    opt.globs[#opt.globs + 1] = toks
  elseif a == '--older-than' or a == '--newer-than' then
    local v = value()
    local ms = parse_duration(v)
    if not ms then return usage(a .. ' needs a duration such as 90s, 30m, 2h, 7d, 1w or 1d12h') end
    if a == '--older-than' then opt.older = ms else opt.newer = ms end
  elseif a == '--limit' then
    local v = value()
    if not v or not v:match('^%d+$') or #v > 9 or tonumber(v) < 1 then
      return usage('--limit needs a positive whole number')
    end
    opt.limit = tonumber(v)
  elseif a == '--format' then
    local v = value()
    if v ~= 'text' and v ~= 'json' then return usage('--format is text or json') end
    opt.format = v
  else
    return usage('unknown option: ' .. tostring(a))
  end
  i = i + 1
end
if not opt.prefix then return usage('--prefix is required (the daemon\'s redis.prefix, e.g. runway)') end
local P = opt.prefix
if KEYS[1] ~= P .. ':dead' or KEYS[2] ~= P .. ':jobs' or #KEYS ~= 2 then
  return usage('keys must be ' .. P .. ':dead and ' .. P .. ':jobs (in that order) for --prefix ' .. P)
end
local DEAD, JOBS = KEYS[1], KEYS[2]
-- Redis does not undo a script's writes when a later command fails: check up front what
-- could make one fail, so the write phase below cannot stop half-way.
for _, k in ipairs({DEAD, JOBS}) do
  local ty = redis.call('TYPE', k)['ok']
  if ty ~= 'list' and ty ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. k .. ' is a ' .. ty .. ', not a list')
  end
end

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- ---------------------------------------------------------------- decide

local total = redis.call('LLEN', DEAD)
local undecodable, matched = 0, 0
local chosen = {}        -- {pos = index from the tail (0-based), entry = raw, job = raw job, id = id or nil}
local not_moved = {}     -- first MAX_IDS {id, why}
local WHYS = {'limit', 'duplicate_id', 'in_flight', 'queued', 'succeeded', 'no_refund_marker'}
local why_counts = {}
for _, w in ipairs(WHYS) do why_counts[w] = 0 end
local seen_ids = {}

local function note(id, why)
  why_counts[why] = why_counts[why] + 1
  if #not_moved < MAX_IDS then not_moved[#not_moved + 1] = {id = id, why = why} end
end

local function matches(e, id, dead_ms)
  if opt.classes and not (type(e.error_class) == 'string' and opt.classes[e.error_class]) then return false end
  if opt.reasons then
    local reason = type(e.reason) == 'string' and e.reason:lower() or ''
    local any = false
    for _, r in ipairs(opt.reasons) do
      if reason:find(r, 1, true) then any = true; break end
    end
    if not any then return false end
  end
  if opt.globs then
    if not id then return false end
    local any = false
    for _, g in ipairs(opt.globs) do
      if glob_match(g, id) then any = true; break end
    end
    if not any then return false end
  end
  if opt.older or opt.newer then
    if not dead_ms then return false end  -- age unknown: no age filter holds
    local age = now_ms - dead_ms
    if opt.older and age < opt.older then return false end
    if opt.newer and age >= opt.newer then return false end
  end
  return true
end

-- Why this id must not go back now, or nil.
local function refuse(id, job)
  if not id then return nil end
  if redis.call('EXISTS', P .. ':job:' .. id) == 1 then return 'in_flight' end
  if opt.force then return nil end
  if redis.call('EXISTS', P .. ':replayed:' .. id) == 1 then return 'queued' end
  local done = redis.call('GET', P .. ':done:' .. id)
  if done and done:sub(1, 9) == 'succeeded' then return 'succeeded' end
  if redis.call('EXISTS', P .. ':refunded:' .. id) == 1 then return nil end
  local ok, j = pcall(cjson.decode, job)
  if ok and type(j) == 'table' and type(j.charged) == 'number' and j.charged > 0 then return 'no_refund_marker' end
  return nil
end

local scanned = 0
while scanned < total do
  local page = redis.call('LRANGE', DEAD, -(scanned + CHUNK), -(scanned + 1))
  if #page == 0 then break end
  for k = #page, 1, -1 do  -- the page is head-to-tail: walk it backwards, oldest first
    local raw = page[k]
    local pos = scanned + (#page - k)
    local ok, e = pcall(cjson.decode, raw)
    if not ok or type(e) ~= 'table' or type(e.job) ~= 'string' then
      undecodable = undecodable + 1
    else
      local id = (type(e.id) == 'string' and e.id ~= '') and e.id or nil
      local dead_ms = parse_time(e.dead_at)
      if matches(e, id, dead_ms) then
        matched = matched + 1
        local why = nil
        if id and seen_ids[id] then why = 'duplicate_id' end
        if not why and opt.limit and #chosen >= opt.limit then why = 'limit' end
        if not why then why = refuse(id, e.job) end
        if why then
          note(id, why)
        else
          chosen[#chosen + 1] = {pos = pos, entry = raw, job = e.job, id = id}
        end
        if id then seen_ids[id] = true end
      end
    end
  end
  scanned = scanned + #page
end

-- ---------------------------------------------------------------- write

if not opt.dry and #chosen > 0 then
  -- Mark each chosen entry by position (nothing moved since we read it: one script),
  -- then remove all the marks in one pass.
  local tomb = TOMBSTONE_PREFIX .. t[1] .. '.' .. t[2]
  for _, c in ipairs(chosen) do redis.call('LSET', DEAD, -(c.pos + 1), tomb) end
  redis.call('LREM', DEAD, 0, tomb)
  for _, c in ipairs(chosen) do
    redis.call('LPUSH', JOBS, c.job)  -- oldest first: the daemon takes from the right
    if c.id then
      redis.call('DEL', P .. ':done:' .. c.id)
      redis.call('SET', P .. ':replayed:' .. c.id, '1', 'EX', REPLAYED_TTL)
      -- A cancel remembered for an id nobody held (kRouteCancel, 24 h), or one not routed
      -- yet (P:cancel, up to a second), predates this replay, a newer deliberate act: left
      -- in place it would cancel the job at admission.
      redis.call('DEL', P .. ':cancelreq:' .. c.id)
      redis.call('LREM', P .. ':cancel', 0, c.id)
      local rk = P .. ':refunded:' .. c.id
      local ttl = redis.call('TTL', rk)
      if ttl >= 0 and ttl < REPLAYED_TTL then redis.call('EXPIRE', rk, REPLAYED_TTL) end
    end
  end
end

-- ---------------------------------------------------------------- report

local ids = {}
for k = 1, math.min(#chosen, MAX_IDS) do ids[k] = chosen[k].id or '(no id)' end
local MARK = 'runwayd-replay/1'

if opt.format == 'json' then
  local jids, jnot = {}, {}
  for k = 1, math.min(#chosen, MAX_IDS) do
    jids[k] = chosen[k].id and json_str(chosen[k].id) or 'null'
  end
  for k, n in ipairs(not_moved) do
    jnot[k] = '{"id":' .. (n.id and json_str(n.id) or 'null') .. ',"why":' .. json_str(n.why) .. '}'
  end
  local counts = {}
  for _, w in ipairs(WHYS) do
    counts[#counts + 1] = json_str(w) .. ':' .. why_counts[w]
  end
  local out = '{"v":1,"dry_run":' .. tostring(opt.dry) ..
    ',"prefix":' .. json_str(P) ..
    ',"dead":' .. total ..
    ',"undecodable":' .. undecodable ..
    ',"matched":' .. matched ..
    ',"moved":' .. #chosen ..
    ',"not_moved":{' .. table.concat(counts, ',') .. '}' ..
    ',"ids":' .. json_list(jids) ..
    ',"ids_truncated":' .. tostring(#chosen > MAX_IDS) ..
    ',"not_moved_ids":' .. json_list(jnot) ..
    ',"now":' .. json_str(fmt_time(now_ms)) .. '}'
  return {MARK, out}
end

local lines = {}
local head
if opt.dry then
  head = string.format('dry run: would move %d of %d dead jobs', #chosen, total)
else
  head = string.format('moved %d of %d dead jobs to %s', #chosen, total, JOBS)
end
if #chosen > 0 then
  head = head .. ': ' .. table.concat(ids, ', ')
  if #chosen > MAX_IDS then head = head .. string.format(', ... (%d more)', #chosen - MAX_IDS) end
end
lines[#lines + 1] = head
local left = matched - #chosen
if left > 0 then
  local parts = {}
  local labels = {
    {'limit', 'over --limit'},
    {'duplicate_id', 'another entry for the same id came first'},
    {'in_flight', 'in flight now (' .. P .. ':job:<id> exists)'},
    {'queued', 'put back by an earlier replay and not taken yet (' .. P .. ':replayed:<id> exists; --force to move anyway)'},
    {'succeeded', 'the id has succeeded since (' .. P .. ':done:<id> = succeeded; --force to move anyway)'},
    {'no_refund_marker', 'charged but the refund marker is gone (expired?); a failure would refund again (--force to move anyway)'},
  }
  for _, l in ipairs(labels) do
    if why_counts[l[1]] > 0 then parts[#parts + 1] = string.format('%d %s', why_counts[l[1]], l[2]) end
  end
  lines[#lines + 1] = string.format('matched %d; not moved: %s', matched, table.concat(parts, '; '))
  for _, n in ipairs(not_moved) do
    if n.why ~= 'limit' then lines[#lines + 1] = string.format('  not moved: %s (%s)', n.id or '(no id)', n.why) end
  end
end
if undecodable > 0 then
  lines[#lines + 1] = string.format('%d dead entr%s could not be decoded and stayed where %s',
                                    undecodable, undecodable == 1 and 'y' or 'ies', undecodable == 1 and 'it was' or 'they were')
end
return {MARK, table.concat(lines, '\n')}
