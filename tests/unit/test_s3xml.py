"""XML from a server is parsed under hard limits: no DTD (so no entity expansion), a size
cap checked before parsing, numbers checked; a hostile ETag part count plans nothing."""
from __future__ import annotations

import pytest

from s3fast._errors import NetworkError
from s3fast._s3xml import MAX_XML_BYTES, parse_complete, parse_error, parse_initiate, parse_list_v2
from s3fast.transfer._planner import etag_part_count

_ENTITY = b'<?xml version="1.0"?><!DOCTYPE Error [<!ENTITY e "EXPANDED">]><Error><Code>&e;</Code></Error>'
_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                      for i in range(1, 10))
           + b']><Error><Code>&lol9;</Code></Error>')
_EXTERNAL = b'<?xml version="1.0"?><!DOCTYPE Error [<!ENTITY x SYSTEM "file:///etc/hostname">]><Error><Code>&x;</Code></Error>'


@pytest.mark.parametrize("body", [_ENTITY, _LAUGHS, _EXTERNAL])
def test_documents_with_a_dtd_are_refused(body: bytes) -> None:
    assert parse_error(body) is None
    assert parse_initiate(body.replace(b"Error", b"InitiateMultipartUploadResult")) is None
    assert parse_complete(body) == {}
    with pytest.raises(NetworkError, match="not XML") as info:
        parse_list_v2(body.replace(b"Error", b"ListBucketResult"))
    assert info.value.kind == "protocol"


def test_a_dtd_cannot_hide_in_another_encoding() -> None:
    """The document is read as UTF-8 whatever it declares: a DTD written in UTF-16 (or in
    an 8-bit encoding that spells ``<!DOCTYPE`` differently) never reaches the parser as one."""
    utf16 = _ENTITY.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"').decode().encode("utf-16")
    assert parse_error(utf16) is None
    ebcdic = _ENTITY.replace(b'version="1.0"', b'version="1.0" encoding="cp037"').decode().encode("cp037")
    assert parse_error(ebcdic) is None


def test_the_declared_encoding_is_not_what_decodes() -> None:
    doc = '<?xml version="1.0" encoding="ISO-8859-1"?><Error><Code>\u00e9t\u00e9</Code></Error>'.encode()
    err = parse_error(doc)
    assert err is not None and err.code == "\u00e9t\u00e9"


def test_size_cap_is_checked_before_parsing() -> None:
    doc = b"<Error><Code>Big</Code><Message>" + b"x" * MAX_XML_BYTES + b"</Message></Error>"
    assert len(doc) > MAX_XML_BYTES
    assert parse_error(doc) is None
    just_under = b"<Error><Code>Ok</Code><Message>" + b"x" * (MAX_XML_BYTES - 100) + b"</Message></Error>"
    doc_ok = parse_error(just_under)
    assert doc_ok is not None and doc_ok.code == "Ok"


def test_plain_s3_documents_still_parse() -> None:
    err = parse_error(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
                      b"<Message>The key does not exist</Message><RequestId>R1</RequestId></Error>")
    assert err is not None and (err.code, err.message, err.request_id) == ("NoSuchKey", "The key does not exist", "R1")
    page = parse_list_v2(b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true'
                         b"</IsTruncated><NextContinuationToken>t</NextContinuationToken><Contents><Key>a&amp;b</Key>"
                         b"<Size>12</Size><ETag>\"e\"</ETag></Contents></ListBucketResult>")
    assert [(o.key, o.size) for o in page.objects] == [("a&b", 12)] and page.next_token == "t"


@pytest.mark.parametrize("size", ["1" * 5000, "-1", "1e3", "0x10", "9" * 16])
def test_listing_sizes_are_checked(size: str) -> None:
    body = f"<ListBucketResult><Contents><Key>k</Key><Size>{size}</Size></Contents></ListBucketResult>".encode()
    with pytest.raises(NetworkError, match="invalid Size"):
        parse_list_v2(body)


@pytest.mark.parametrize("etag,expected", [
    ('"d41d8cd98f00b204e9800998ecf8427e-12"', 12), ('"abc-10000"', 10_000), ('"abc-1"', 1),
    ('"abc-10001"', None), ('"abc-99999999"', None), ('"abc-0"', None), ('"abc-' + "9" * 5000 + '"', None),
])
def test_etag_part_count_is_bounded_by_s3s_limit(etag: str, expected: int | None) -> None:
    assert etag_part_count(etag) == expected
