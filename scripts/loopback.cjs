// Preload (`node -r ./scripts/loopback.cjs ...`): the Agents Playground calls listen(port) without a host, which
// binds every interface and exposes its unauthenticated mock Bot Connector to the network. This keeps any server
// that names no host on 127.0.0.1.
"use strict";
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    // listen(port[, backlog][, callback]): put the host right after the port unless one is already there
    if (typeof args[1] !== "string") args.splice(1, 0, "127.0.0.1");
  } else if (first && typeof first === "object" && first.path === undefined && first.host === undefined) {
    args[0] = Object.assign({}, first, { host: "127.0.0.1" });
  } else if (first === undefined || first === null || typeof first === "function") {
    // listen(), listen(undefined, ...) or listen(callback): a random port
    if (typeof first !== "function") args.shift();
    args.unshift(0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
