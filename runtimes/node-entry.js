// `node dist/node.js` (and `npm start`, through runtimes/start.js): bundled as dist/node.js, in
// front of the service's bundle, dist/node-service.js. It turns on Node's compile cache first
// (V8's code for the bundle, kept on disk in the OS's temp directory), so that every start after
// the first skips compiling the bundle; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
process.getBuiltinModule('node:module').enableCompileCache?.();
await import('./node-service.js');
