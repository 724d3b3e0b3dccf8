-- wrk script of the tenants benchmark: every request presents the next
-- session cookie of a working set, in turn, so that a keep-alive connection
-- carries many principals (as behind a load balancer) and the gateway
-- decides each request from its caches, not from the connection's memory of
-- the previous one.
--
-- Usage: wrk -t1 -c32 -d10s -s rotate.lua URL -- COOKIES_FILE
--   COOKIES_FILE: one `name=value` cookie per line. The path requested is
--   URL's.
local requests = {}
local count = 0
local next_one = 0

function init(args)
  local file = args[1]
  if file == nil then
    error("usage: wrk ... -s rotate.lua URL -- COOKIES_FILE")
  end
  local path = wrk.path
  for line in io.lines(file) do
    if line ~= "" then
      count = count + 1
      requests[count] = wrk.format("GET", path, { ["Cookie"] = line })
    end
  end
  if count == 0 then
    error(file .. " holds no cookies")
  end
  -- Threads start at different places in the rotation.
  next_one = math.random(count) - 1
end

function request()
  next_one = next_one % count + 1
  return requests[next_one]
end
