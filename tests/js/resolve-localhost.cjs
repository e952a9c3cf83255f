// glibc does not resolve *.localhost; users add a hosts-file line (strongroom dev prints it). The test process
// maps those names to 127.0.0.1 itself. The SDKs are not touched: TLS still verifies the real host names.
const dns = require("node:dns");

const systemLookup = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  const target = typeof hostname === "string" && hostname.endsWith(".localhost") ? "127.0.0.1" : hostname;
  return systemLookup.call(this, target, options, callback);
};
