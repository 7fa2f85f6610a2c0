<?php
// Self-contained goridge worker for pool tests. The request body is a command:
// echo:<x> | crash | error:<msg> | sleep:<ms> | stop | garbage | mem:<MiB> | stray | stream:<n> | pid
// rte:<x> (respond <x>, then an error frame) | etr:<x> (an error frame, then respond <x>)
declare(strict_types=1);

function frame(string $payload, int $flags = 0, array $options = [], int $b10 = 0): string {
    $hl = 3 + count($options);
    $head = pack('CCV', 0x10 | $hl, $flags, strlen($payload));
    $out = $head . pack('V', crc32($head)) . chr($b10) . chr(0);
    foreach ($options as $o) { $out .= pack('V', $o); }
    return $out . $payload;
}

function readFrame(): ?array {
    $h = fread(STDIN, 12);
    if ($h === false || strlen($h) < 12) { return null; }
    $hl = ord($h[0]) & 0x0F; $flags = ord($h[1]);
    $len = unpack('V', substr($h, 2, 4))[1];
    $need = ($hl - 3) * 4 + $len; $rest = '';
    while (strlen($rest) < $need) { $c = fread(STDIN, $need - strlen($rest)); if ($c === false || $c === '') { return null; } $rest .= $c; }
    $opts = $hl > 3 ? array_values(unpack('V*', substr($rest, 0, ($hl - 3) * 4))) : [];
    return ['flags' => $flags, 'options' => $opts, 'payload' => substr($rest, ($hl - 3) * 4), 'b10' => ord($h[10])];
}

function send(string $data): void { fwrite(STDOUT, $data); fflush(STDOUT); }
function respond(string $ctx, string $body, int $b10 = 0): void { send(frame($ctx . $body, 0, [strlen($ctx)], $b10)); }

$hog = [];
while (true) {
    $f = readFrame();
    if ($f === null) { exit(0); }
    if ($f['b10'] & 0x0A) { continue; } // STOP / PONG outside a stream: nothing to do
    if ($f['flags'] & 0x01) {
        $cmd = json_decode($f['payload'], true);
        if (!empty($cmd['stop'])) { exit(0); }
        if (!empty($cmd['pid'])) { send(frame(json_encode(['pid' => getmypid()]), 0x01)); }
        continue;
    }
    $ctxLen = $f['options'][0] ?? 0;
    $ctx = substr($f['payload'], 0, $ctxLen);
    $body = substr($f['payload'], $ctxLen);
    [$op, $arg] = array_pad(explode(':', $body, 2), 2, '');
    switch ($op) {
        case 'echo': respond($ctx, $arg); break;
        case 'pid': respond('', (string)getmypid()); break;
        case 'crash': fwrite(STDERR, "crashing\n"); exit(3);
        case 'error': send(frame($arg, 0x40)); break;
        case 'sleep': usleep((int)$arg * 1000); respond('', 'slept'); break;
        case 'stop':
            // ask to be replaced once (marker file), then answer on the retry
            if ($arg !== '' && file_exists($arg)) { respond('', 'retried'); break; }
            if ($arg !== '') { touch($arg); }
            send(frame('{"stop":true}', 0, [13])); break;
        case 'garbage': fwrite(STDOUT, "Hello, this is not a frame at all!"); fflush(STDOUT); break;
        case 'mem': $hog[] = str_repeat('x', (int)$arg * 1024 * 1024); respond('', 'grown'); break;
        case 'stray': respond('', 'first'); send(frame('late error', 0x40)); break;
        case 'rte': respond('', $arg); send(frame("failed $arg", 0x40)); break;
        case 'etr': send(frame("failed $arg", 0x40)); respond('', $arg); break;
        case 'stream':
            $n = (int)$arg;
            for ($i = 0; $i < $n; $i++) { respond($i === 0 ? '{"s":1}' : '', "chunk$i;", 0x01); usleep(20000); }
            respond('', 'end'); break;
        default: respond($ctx, $body);
    }
}
