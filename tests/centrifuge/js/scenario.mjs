// One run of the official JS client against rr's built-in endpoint; prints one JSON
// object with what it saw. Usage: node scenario.mjs ws://host:port/connection/websocket [protobuf]
import WebSocket from 'ws';

const url = process.argv[2];
const protobuf = process.argv[3] === 'protobuf';
// the protobuf build speaks centrifuge-protobuf; its payloads are bytes (JSON inside here)
const { Centrifuge } = await import(protobuf ? 'centrifuge/build/protobuf' : 'centrifuge');
const enc = (v) => (protobuf ? new TextEncoder().encode(JSON.stringify(v)) : v);
const dec = (v) => (protobuf ? JSON.parse(new TextDecoder().decode(v)) : v);
const out = {};
const wait = (p, ms = 30000) => Promise.race([p, new Promise((_, no) =>
  setTimeout(() => no(new Error('timeout')), ms))]);
const next = (emitter, event) => new Promise((ok) => emitter.once(event, ok));

function client(user) {
  return new Centrifuge(url, { websocket: WebSocket, data: enc({ user }), timeout: 30000 });
}

const alice = client('alice');
const bob = client('bob');
// listeners go on before connect(): either client may finish first
const connected = Promise.all([next(alice, 'connected'), next(bob, 'connected')]);
alice.connect();
bob.connect();
const [ctx] = await wait(connected);
out.connectData = dec(ctx.data);

const subA = alice.newSubscription('chat', { recoverable: true });
const subB = bob.newSubscription('chat');
const gotA = [];
const gotB = [];
subA.on('publication', (p) => gotA.push(dec(p.data)));
subB.on('publication', (p) => gotB.push(dec(p.data)));
const subscribed = Promise.all([next(subA, 'subscribed'), next(subB, 'subscribed')]);
subA.subscribe();
subB.subscribe();
await wait(subscribed);
await subA.publish(enc({ from: 'alice' }));
await subB.publish(enc({ from: 'bob' }));
while (gotA.length < 2 || gotB.length < 2) await new Promise((r) => setTimeout(r, 20));
out.alice = gotA.slice(0, 2);
out.bob = gotB.slice(0, 2);

const forbidden = alice.newSubscription('forbidden:js');
const unsub = next(forbidden, 'unsubscribed');
forbidden.subscribe();
const u = await wait(unsub);
out.forbidden = u.code;

const rpc = await alice.rpc('echo', enc({ q: 'js' }));
out.rpc = dec(rpc.data).data;
out.protocol = dec(rpc.data).protocol;
const presence = await subA.presence();
out.presence = Object.values(presence.clients).map((c) => c.user).sort();

// recovery: alice drops, bob publishes twice, alice comes back and recovers both
alice.disconnect();
await subB.publish(enc({ missed: 1 }));
await subB.publish(enc({ missed: 2 }));
const again = next(subA, 'subscribed');
alice.connect();
const resub = await wait(again);
out.recovered = resub.recovered;
while (gotA.length < 4) await new Promise((r) => setTimeout(r, 20));
out.aliceAfter = gotA.slice(2);

alice.disconnect();
bob.disconnect();
console.log(JSON.stringify(out));
process.exit(0);
