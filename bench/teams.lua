-- wrk script: Teams-shaped activities with unique ids spread over many conversation ids.
-- Same shape as bench/activities.py. Args after "--":
--   serviceUrl conversations personalEvery runId [text] [invokeValueJson]
-- personalEvery = N makes every Nth conversation a personal chat (0 = groupChat only).
-- invokeValueJson set = send adaptiveCard/action invokes with that value instead of messages.

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local function esc(s)
  return (s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == '\\' then return '\\\\' end
    return string.format("\\u%04x", c:byte())
  end))
end

local BOT = '"recipient":{"id":"28:00000000-0000-0000-0000-0000000000b0","name":"Connected Chats"}'
local TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
local FROM = '"from":{"id":"29:bench-user","name":"Alex Wilber","aadObjectId":"00000000-0000-0000-0000-0000000000020"}'
local MENTION = '"entities":[{"type":"mention","text":"<at>Connected Chats</at>",'
  .. '"mentioned":{"id":"28:00000000-0000-0000-0000-0000000000b0","name":"Connected Chats"}}]'

local head, nconv, every, run_id, tail_msg, tail_invoke
local n = 0

function init(args)
  local service_url = args[1] or "http://127.0.0.1:3979/"
  nconv = tonumber(args[2] or "1000")
  every = tonumber(args[3] or "4")
  run_id = (args[4] or "w") .. "-" .. tostring(tid or 0)
  local text = args[5] or "<at>Connected Chats</at> help"
  head = '{"channelId":"msteams","serviceUrl":"' .. esc(service_url) .. '","timestamp":"2026-11-29T06:00:00.000Z",'
    .. '"locale":"en-US",' .. FROM .. ',' .. BOT .. ',"channelData":{"tenant":{"id":"' .. TENANT .. '"}},'
  tail_msg = '"type":"message","textFormat":"plain","text":"' .. esc(text) .. '"'
  if args[6] and args[6] ~= "" then
    tail_invoke = '"type":"invoke","name":"adaptiveCard/action","replyToId":"' .. run_id .. '-card","value":' .. args[6]
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local c = (n + (tid or 0) * 7919) % nconv
  local conv, group
  if every > 0 and c % every == 0 then
    conv = '{"conversationType":"personal","tenantId":"' .. TENANT .. '","id":"a:bench-personal-' .. c .. '"}'
    group = false
  else
    conv = '{"conversationType":"groupChat","isGroup":true,"tenantId":"' .. TENANT .. '","id":"19:bench-' .. c .. '@thread.v2"}'
    group = true
  end
  local parts = { head, '"id":"', run_id, "-", n, '","conversation":', conv, "," }
  if tail_invoke then
    table.insert(parts, tail_invoke)
  else
    table.insert(parts, tail_msg)
    if group then table.insert(parts, "," .. MENTION) end
  end
  table.insert(parts, "}")
  return wrk.format(nil, nil, nil, table.concat(parts))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
