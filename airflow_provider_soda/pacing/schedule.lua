-- The pacing schedule of airflow_provider_soda/pacing/schedule.py, for Redis: the same
-- algorithm, line by line, run atomically in the server at the server's clock.
-- KEYS[1]: the schedule. ARGV: op, requests, period, key ttl (ms), JSON array of op arguments,
-- and, for the differential test only, the instant to use instead of the server's TIME.
-- Returns the operation's result as JSON. The state is saved after every operation, as the
-- Python stores do, so that the clean-up of a call with an unknown id is kept too.
local RESERVED, IN_FLIGHT, DONE = 0, 1, 2
local MIN_WAIT = 0.005
local key = KEYS[1]
local op = ARGV[1]
local requests = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local args = cjson.decode(ARGV[5])
local now
if ARGV[6] then
  now = tonumber(ARGV[6])
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
end

local raw = redis.call('GET', key)
local state
if raw then
  state = cjson.decode(raw)
else
  state = {v = 1, seq = 0, cap = 0, calm = 0, block = 0, lat = 0.05, e = {}}
end

-- _gc
local kept = {}
for _, entry in ipairs(state.e) do
  local kind, t, expires = entry[2], entry[3], entry[4]
  if kind == IN_FLIGHT and expires <= now then
    entry[2], entry[3], kind, t = DONE, expires, DONE, expires
  end
  if not ((kind == DONE and t + period <= now) or (kind == RESERVED and expires <= now)) then
    table.insert(kept, entry)
  end
end
local done = {}
for _, entry in ipairs(kept) do
  if entry[2] == DONE then table.insert(done, entry[3]) end
end
if #done > requests then
  table.sort(done)
  local oldest_kept = done[#done - requests + 1]
  local newest = {}
  for _, entry in ipairs(kept) do
    if entry[2] ~= DONE or entry[3] >= oldest_kept then table.insert(newest, entry) end
  end
  kept = newest
end
state.e = kept
if state.cap <= 0 or state.cap > requests or (state.cap < requests and now - state.calm >= period) then
  state.cap = requests
end
local cap = state.cap

local function occupied_until(entry)
  local kind, t = entry[2], entry[3]
  if kind == DONE then return t + period end
  if kind == IN_FLIGHT then return math.max(now, t + state.lat) + period end
  return math.max(now, t) + state.lat + period
end

local function find(id)
  for index, entry in ipairs(state.e) do
    if entry[1] == id then return entry, index end
  end
  return nil, nil
end

-- The key lives `ttl` past the furthest moment the state still speaks of (a pause, a booking,
-- a request in flight or in the window), so that no pause or booking expires before it ends.
local function save(result)
  local furthest = math.max(now, state.block)
  for _, entry in ipairs(state.e) do
    if entry[2] == DONE then
      furthest = math.max(furthest, entry[3] + period)
    else
      furthest = math.max(furthest, entry[4] + period)
    end
  end
  redis.call('SET', key, cjson.encode(state), 'PX', math.floor(ttl + (furthest - now) * 1000))
  return cjson.encode(result)
end

if op == 'reserve' then
  local id, hold = args[1], args[2]
  local start = math.max(now, state.block)
  local ends = {}
  local position = 0
  for _, entry in ipairs(state.e) do
    table.insert(ends, occupied_until(entry))
    if entry[2] == RESERVED then position = position + 1 end
  end
  table.sort(ends, function(a, b) return a > b end)
  if #ends >= cap then start = math.max(start, ends[cap]) end
  state.seq = state.seq + 1
  table.insert(state.e, {id, RESERVED, start, start + hold, state.seq})
  return save({start - now, position})
end

local entry, index = find(args[1])
if op == 'claim' then
  if entry == nil then return save(-1) end
  local timeout, hold = args[2], args[3]
  if now < state.block then
    entry[4] = math.max(entry[4], state.block + hold)
    return save(state.block - now)
  end
  local ends = {}
  for _, other in ipairs(state.e) do
    if other ~= entry and (other[2] ~= RESERVED or other[5] < entry[5]) then
      table.insert(ends, occupied_until(other))
    end
  end
  if #ends < cap then
    entry[2], entry[3], entry[4] = IN_FLIGHT, now, now + timeout
    return save(0)
  end
  table.sort(ends)
  local wait = math.max(MIN_WAIT, ends[#ends - cap + 1] - now)
  entry[4] = math.max(entry[4], now + wait + hold)
  return save(wait)
end
if entry == nil then return save(0) end
if op == 'release' then
  if args[2] then
    if entry[2] == IN_FLIGHT then
      state.lat = math.min(period, 0.8 * state.lat + 0.2 * math.max(0, now - entry[3]))
    end
    entry[2], entry[3] = DONE, now
  else
    table.remove(state.e, index)
  end
  return save(0)
end
if op == 'reject' then
  local retry_after, jitter = args[2], args[3]
  table.remove(state.e, index)
  local ours = {}
  for _, other in ipairs(state.e) do
    if other[2] == DONE then table.insert(ours, other[3]) end
  end
  table.sort(ours)
  local untill
  if retry_after ~= cjson.null and retry_after ~= nil and retry_after >= 0 then
    untill = now + retry_after
  elseif #ours == 0 then
    untill = now + period + jitter
  else
    state.cap = math.max(1, math.min(cap, #ours))
    untill = ours[1] + period + jitter
  end
  state.block = math.max(state.block, untill)
  state.calm = now
  return save(state.block - now)
end
if op == 'cancel' then
  table.remove(state.e, index)
  return save(0)
end
return redis.error_reply('unknown pacing operation ' .. op)
