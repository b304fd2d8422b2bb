-- The name a ferry connection is for, read from its first bytes, for HAProxy's TCP mode
-- (haproxy-tcp.cfg): `lua.ferry_name` is the name of the connection's first GET or STAT ("" when none), past any
-- AUTH frames a client with a token sends first; `lua.ferry_waiting` is true while more bytes are
-- needed to tell. The frame layouts are those of docs/PROTOCOL.md, sections 4.1, 4.6 and 4.7.
--
-- Lua rather than `req.payload`: the name starts at 34 + D in a GET (D, the digests offered, is 1 to
-- 16) and after the AUTH's token when there is one, and HAProxy 2.6's payload fetches and `bytes`
-- converter take only constant offsets.

local PREFIX = "FRY\2"
local HEADER = 9 -- prefix, kind, u32 payload length
local MAX_PAYLOAD = 4137
local GET, STAT, AUTH = 1, 5, 6
-- What comes between the digest ids and the name: a GET's offset (u64) and version (16 bytes).
local BEFORE_NAME = { [GET] = 24, [STAT] = 0 }

-- Returns the name, or nil and "wait" (not all of it has arrived) or "none" (nothing to route on:
-- another kind of request first, or bytes that are not ferry's).
local function first_name(data)
  local at = 1
  while true do
    if #data < at + HEADER - 1 then
      -- A stranger shows in its first bytes: no need to wait for nine of them.
      if data:sub(at, at + 3) ~= PREFIX:sub(1, #data - at + 1) then return nil, "none" end
      return nil, "wait"
    end
    if data:sub(at, at + 3) ~= PREFIX then return nil, "none" end
    local kind = data:byte(at + 4)
    local length = string.unpack(">I4", data, at + 5)
    if length > MAX_PAYLOAD then return nil, "none" end
    local payload = at + HEADER
    if kind == AUTH then
      at = payload + length
    elseif BEFORE_NAME[kind] ~= nil then
      if #data < payload + length - 1 then return nil, "wait" end
      if length == 0 then return nil, "none" end
      local name = payload + 1 + data:byte(payload) + BEFORE_NAME[kind]
      if name > payload + length - 1 then return nil, "none" end
      return data:sub(name, payload + length - 1)
    else
      return nil, "none"
    end
  end
end

local function buffered(txn)
  return txn.f:req_payload(0, 0) or ""
end

-- The empty string when there is no name yet: a fetch that returns nil gives HAProxy the integer 0.
core.register_fetches("ferry_name", function(txn)
  return first_name(buffered(txn)) or ""
end)

core.register_fetches("ferry_waiting", function(txn)
  local _, why = first_name(buffered(txn))
  return why == "wait"
end)
