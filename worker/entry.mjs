// The worker's entry module (wrangler.toml `main`), around what worker-build
// generates in build/index.js.
//
// worker-build exports the fetch handler as a WorkerEntrypoint class behind a
// Proxy, so the runtime builds a class instance and two proxies for every
// request: about 40 µs of isolate CPU, more than the whole route table lookup
// and a tenth of a catalogue answer. A plain handler object is what the
// runtime serves fastest; it calls the same generated handler, with the same
// `env` and `ctx`.
//
// What the class adds is recovery after a Wasm trap (a panic aborts): the
// generated code flags it in `__worker_init_state` and rebuilds the instance
// on the next construction. A trap seen here sets the same flag, and once it
// is set requests go through the generated class, which resets the Wasm
// state before serving.
import { DurableObject } from 'cloudflare:workers';
import Generated, * as generated from './build/index.js';

export * from './build/index.js';

// The worker calls its Durable Objects over JS RPC (their `command`
// method), which the runtime offers only on classes that derive from
// `DurableObject`. worker-build's classes do not, so they are given that
// ancestry here, as worker-build's own plain shim does; their constructors
// and methods are unchanged.
const OBJECTS = ['ClientRateLimit', 'EventIndex', 'PartnerGate', 'PartnerSandbox', 'PublicActivity', 'RouteUsage', 'StatusMonitor', 'WebhookHub'];
for (const objectClass of OBJECTS.map((name) => generated[name])) {
  Object.setPrototypeOf(objectClass.prototype, DurableObject.prototype);
  Object.setPrototypeOf(objectClass, DurableObject);
}

// The key's object (`PartnerSandbox`) takes the commands that arrive
// together in one turn. Each signed request is one command to its key's
// object, and nearly every command writes (a nonce, an entry). The runtime
// commits an object's writes once the current turn of its event loop is
// done, and holds the object's answers until that commit is durable; on
// `wrangler dev` each commit ends with an fsync on the one thread that also
// runs the worker. Answered one by one, eight connections cost eight
// commits; gathered, the commands that reach the object before its next
// timer turn share one. Each still runs whole, in arrival order, with no
// other command between its reads and its writes, so counts and
// reservations stay exact, and none is answered before its writes are
// durable. A command alone waits one timer turn (measured: about 60 µs of
// CPU and 4 % of req/s on one connection); under load a credit costs a
// quarter less CPU.
function commandsInTurns(objectClass) {
  const command = objectClass.prototype.command;
  const turns = new WeakMap();
  objectClass.prototype.command = function (message) {
    let turn = turns.get(this);
    if (turn === undefined) {
      turn = new Promise((resolve) => setTimeout(resolve, 0)).then(() => turns.delete(this));
      turns.set(this, turn);
    }
    // A trap inside is flagged as one the runtime saw directly would be.
    return turn.then(() => command.call(this, message)).catch(trapped);
  };
}
commandsInTurns(generated.PartnerSandbox);

const state = globalThis.__worker_init_state ?? { criticalError: false };
const handlers = Generated.prototype;

function trapped(error) {
  if (error instanceof WebAssembly.RuntimeError) state.criticalError = true;
  throw error;
}

function call(method, argument, env, ctx) {
  if (state.criticalError) return new Generated(ctx, env)[method](argument);
  let answer;
  try {
    answer = handlers[method].call({ env, ctx }, argument);
  } catch (error) {
    trapped(error);
  }
  return answer instanceof Promise ? answer.catch(trapped) : answer;
}

export default {
  fetch: (request, env, ctx) => call('fetch', request, env, ctx),
  scheduled: (event, env, ctx) => call('scheduled', event, env, ctx),
};
