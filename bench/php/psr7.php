<?php
// `psr7`: the `hello` answer through what spiral/roadrunner-http's PSR7Worker does per
// request with a PSR-17 factory: an immutable ServerRequest built header by header
// (every with*() clones), its Uri, query and cookie params, a body stream, then an
// immutable Response whose headers are read back for the reply. Under php-fpm it is the
// plain `hello` script (the PSR-7 layer is what an rr app adds, not FPM's).
declare(strict_types=1);

if (PHP_SAPI !== 'cli') {
    header('Content-Type: text/plain');
    echo 'Hello, world!';
    return;
}
require getenv('RR_PHP_LIB') . '/autoload.php';

final class Stream
{
    public function __construct(private string $data = '') {}
    public function __toString(): string { return $this->data; }
    public function getSize(): int { return strlen($this->data); }
}

final class Uri
{
    private string $scheme = '';
    private string $host = '';
    private ?int $port = null;
    private string $path = '';
    private string $query = '';

    public function __construct(string $uri)
    {
        $p = parse_url($uri) ?: [];
        $this->scheme = strtolower($p['scheme'] ?? '');
        $this->host = strtolower($p['host'] ?? '');
        $this->port = $p['port'] ?? null;
        $this->path = $p['path'] ?? '';
        $this->query = $p['query'] ?? '';
    }
    public function getPath(): string { return $this->path; }
}

abstract class Message
{
    protected array $headers = [];
    protected array $names = [];
    protected string $protocol = '1.1';
    protected Stream $body;

    public function withHeader(string $name, array $values): static
    {
        $new = clone $this;
        $lower = strtolower($name);
        if (isset($new->names[$lower])) {
            unset($new->headers[$new->names[$lower]]);
        }
        $new->names[$lower] = $name;
        $new->headers[$name] = array_map(static fn ($v) => trim((string)$v, " \t"), $values);
        return $new;
    }
    public function withProtocolVersion(string $v): static { $n = clone $this; $n->protocol = $v; return $n; }
    public function withBody(Stream $b): static { $n = clone $this; $n->body = $b; return $n; }
    public function getHeaders(): array { return $this->headers; }
    public function getBody(): Stream { return $this->body; }
}

final class ServerRequest extends Message
{
    private array $cookies = [];
    private array $query = [];
    private array $attributes = [];
    private mixed $parsed = null;
    private array $uploaded = [];

    public function __construct(private string $method, private Uri $uri, private array $server)
    {
        $this->body = new Stream();
    }
    public function withCookieParams(array $c): self { $n = clone $this; $n->cookies = $c; return $n; }
    public function withQueryParams(array $q): self { $n = clone $this; $n->query = $q; return $n; }
    public function withParsedBody(mixed $p): self { $n = clone $this; $n->parsed = $p; return $n; }
    public function withUploadedFiles(array $u): self { $n = clone $this; $n->uploaded = $u; return $n; }
    public function withAttribute(string $k, mixed $v): self { $n = clone $this; $n->attributes[$k] = $v; return $n; }
    public function getUri(): Uri { return $this->uri; }
}

final class Response extends Message
{
    public function __construct(private int $status = 200) { $this->body = new Stream(); }
    public function getStatusCode(): int { return $this->status; }
}

$http = RR\Http\HttpWorker::create();
while (($req = $http->waitRequest()) !== null) {
    // PSR7Worker::mapRequest: server params, then the request built step by step
    $server = ['REQUEST_TIME' => time(), 'REQUEST_TIME_FLOAT' => microtime(true),
               'REMOTE_ADDR' => $req->getRemoteAddr(), 'REQUEST_METHOD' => $req->method,
               'SERVER_PROTOCOL' => $req->protocol, 'REQUEST_URI' => $req->uri];
    foreach ($req->headers as $name => $values) {
        $server['HTTP_' . strtoupper(str_replace('-', '_', (string)$name))] = implode(', ', $values);
    }
    $request = (new ServerRequest($req->method, new Uri($req->uri), $server))
        ->withProtocolVersion(substr($req->protocol, 5))
        ->withCookieParams($req->cookies)
        ->withQueryParams($req->query)
        ->withUploadedFiles($req->uploads);
    foreach ($req->attributes as $k => $v) {
        $request = $request->withAttribute((string)$k, $v);
    }
    foreach ($req->headers as $name => $values) {
        $request = $request->withHeader((string)$name, $values);
    }
    $request = $req->parsed ? $request->withParsedBody($req->getParsedBody())
        : $request->withBody(new Stream($req->body));

    // the app: a hello response
    $response = (new Response(200))->withHeader('Content-Type', ['text/plain'])
        ->withBody(new Stream('Hello, world!'));

    // PSR7Worker::respond: status, headers as read from the response, the body string
    $http->respond($response->getStatusCode(), (string)$response->getBody(), $response->getHeaders());
}
