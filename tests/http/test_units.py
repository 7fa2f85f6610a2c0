"""Pure pieces of the HTTP plugin: form tree, cookies, multipart, ETag CRC, reply decoding."""

from __future__ import annotations

import pytest

from rr.http import etag, multipart, reply
from rr.http.canonical import canonical
from rr.http.cookies import parse_cookies
from rr.http.formtree import FormTreeError, build_tree, split_name
from rr.http.middleware.gzip import accepts_gzip, compressible
from rr.http.middleware.proxy_ip import client_ip


@pytest.mark.parametrize(("fields", "tree"), [
    ([("name", "a")], {"name": "a"}),
    ([("name", "a"), ("name", "b")], {"name": "b"}),
    ([("tags[]", "x"), ("tags[]", "y")], {"tags": ["x", "y"]}),
    ([("user[name]", "Ann"), ("user[age]", "3")], {"user": {"name": "Ann", "age": "3"}}),
    ([("opts[0][id]", "7")], {"opts": {"0": {"id": "7"}}}),
    ([("m[a][]", "1"), ("m[a][]", "2")], {"m": {"a": ["1", "2"]}}),
    ([("options", ""), ("options[0][id]", "7")], {"options": {"0": {"id": "7"}}}),
    ([("options[0][id]", "7"), ("options", "")], {"options": {"0": {"id": "7"}}}),
    ([("a b[c]", "1")], {"ab": {"c": "1"}}),
])
def test_form_tree(fields: list[tuple[str, str]], tree: dict[str, object]) -> None:
    assert build_tree(fields) == tree


@pytest.mark.parametrize("fields", [
    [("a", "x"), ("a[b]", "y")],
    [("a[b]", "y"), ("a", "x")],
])
def test_form_tree_conflict(fields: list[tuple[str, str]]) -> None:
    with pytest.raises(FormTreeError, match="invalid multiple values to key 'a' in tree"):
        build_tree(fields)


def test_deep_names_are_dropped() -> None:
    assert build_tree([("a" + "[x]" * 130, "v"), ("ok", "1")]) == {"ok": "1"}
    assert split_name("a[b][]") == ["a", "b", ""]


def test_cookies_unescaped_invalid_dropped() -> None:
    got = parse_cookies(['sid=ab%20c; q="quoted"; bad=%zz; plus=a+b', "sid=last"])
    assert got == {"sid": "last", "q": "quoted", "plus": "a b"}


def test_canonical_names() -> None:
    assert canonical(b"x-forwarded-for") == "X-Forwarded-For"
    assert canonical(b"CONTENT-TYPE") == "Content-Type"
    assert canonical(b"bad header") == "bad header"


def test_etag_examples_from_spec() -> None:
    assert etag.strong(b"hello world") == '"11-4225329227"'
    assert etag.weak("sample.txt") == 'W/"2651801651"'


def test_multipart_fields_and_files() -> None:
    body = (b"--XX\r\nContent-Disposition: form-data; name=\"a[]\"\r\n\r\n1\r\n"
            b"--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nline1\r\nline2\r\n--XX--\r\n")
    parts = multipart.parse(body, multipart.boundary_of("multipart/form-data; boundary=XX"))
    assert [(p.name, p.filename, p.content_type, p.data) for p in parts] == [
        ("a[]", None, "", b"1"), ("f", "x.txt", "text/plain", b"line1\r\nline2")]
    with pytest.raises(multipart.MultipartError):
        multipart.parse(b"garbage", "XX")


def test_reply_json_and_proto() -> None:
    r = reply.decode(b'{"status":201,"headers":{"A":["1","2"],"B":"x"}}', 0x08)
    assert (r.status, r.headers) == (201, [("A", "1"), ("A", "2"), ("B", "x")])
    proto = bytes.fromhex("08c801121c0a0c") + b"Content-Type" + bytes.fromhex("120c0a0a") \
        + b"text/plain"
    r = reply.decode(proto, 0x80)
    assert (r.status, r.headers) == (200, [("Content-Type", "text/plain")])
    with pytest.raises(reply.ReplyError):
        reply.decode(b"{not json", 0)


def test_forwarding_header_order() -> None:
    assert client_ip({"Forwarded": 'for="[2001:db8::1]:4711";proto=http',
                      "X-Forwarded-For": "1.1.1.1"}) == "[2001:db8::1]:4711"
    assert client_ip({"Forwarded": "proto=http", "X-Forwarded-For": "1.1.1.1",
                      "True-Client-Ip": "2.2.2.2"}) == "2.2.2.2"
    assert client_ip({"X-Forwarded-For": "3.3.3.3, 4.4.4.4"}) == "3.3.3.3"
    assert client_ip({"X-Real-Ip": "5.5.5.5"}) == "5.5.5.5"
    assert client_ip({}) is None


def test_gzip_rules() -> None:
    assert accepts_gzip("deflate, gzip;q=0.5") and not accepts_gzip("gzip;q=0, br")
    assert compressible("text/html; charset=utf-8") and not compressible("image/png")


def test_valid_host() -> None:
    from rr.http.host import valid_host

    for host in ("example.com", "h:80", "h:", "[::1]", "[::1]:443", "[fe80::1%25en0]",
                 "1.2.3.4:5", "a" * 255, "", "xn--bcher-kva.example"):
        assert valid_host(host), host
    for host in ("h/admin#", "h/x", "a b", "h#", "u@h", "h?", "[::1", "[::1]x", "[::1]:p",
                 "[g::1]", "::1", "h:1:2", "h]", "a]b[", "[1.2.3.4]", "a" * 256, "bü",
                 "h\t", "h\x00"):
        assert not valid_host(host), host
