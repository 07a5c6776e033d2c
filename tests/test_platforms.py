"""`newsletter publish N --to listmonk|buttondown|ghost`: against loopback servers that answer like each API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.catalog import Catalog
from newsletter.issues.files import find_issue
from newsletter.platforms import jwt
from tests.linkproject import add_item, make_project, run, write_issue
from tests.platformservers import Buttondown, Ghost, Listmonk

LISTS = "[platforms.listmonk]\nlists = [1]\n"
FUTURE = "2099-12-04T09:00:00Z"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path, LISTS)
    item = add_item(root, "https://example.org/paged-attention", "Paged attention")
    write_issue(root, 3, [("Paged attention", item.url)], status="draft", title="Serving week")
    return root


def front(root: Path, number: int = 3) -> dict:
    return find_issue(root / "content" / "issues", number).front


@pytest.fixture
def listmonk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listmonk]:
    with Listmonk() as server:
        monkeypatch.setenv("NEWSLETTER_LISTMONK_URL", server.url)
        monkeypatch.setenv("NEWSLETTER_LISTMONK_USER", "newsletter-bot")
        monkeypatch.setenv("NEWSLETTER_LISTMONK_TOKEN", "lm-token")
        yield server


@pytest.fixture
def buttondown(monkeypatch: pytest.MonkeyPatch) -> Iterator[Buttondown]:
    with Buttondown() as server:
        monkeypatch.setenv("NEWSLETTER_BUTTONDOWN_API", server.url)
        monkeypatch.setenv("NEWSLETTER_BUTTONDOWN_TOKEN", "bd-token")
        yield server


@pytest.fixture
def ghost(monkeypatch: pytest.MonkeyPatch) -> Iterator[Ghost]:
    with Ghost() as server:
        monkeypatch.setenv("NEWSLETTER_GHOST_URL", server.url)
        monkeypatch.setenv("NEWSLETTER_GHOST_ADMIN_KEY", server.key)
        yield server


# -- listmonk ----------------------------------------------------------------------------------------


def test_listmonk_draft_then_update_then_schedule(project: Path, listmonk: Listmonk) -> None:
    code, out, err = run(project, "publish", "3", "--to", "listmonk", "--draft")
    assert code == 0, err
    assert "created listmonk_id 1 (draft)" in out
    assert front(project)["listmonk_id"] == 1
    campaign = listmonk.campaigns[1]
    assert campaign["subject"] == "Serving week" and campaign["lists"] == [1]
    assert campaign["content_type"] == "html" and campaign["from_email"] == "editor@example.org"
    assert 'href="{{ UnsubscribeURL }}"' in campaign["body"] and "{{ UnsubscribeURL }}" in campaign["altbody"]
    assert "Paged attention" in campaign["body"] and "xNLx" not in campaign["body"]
    # A --draft hand-off marks nothing here yet.
    assert Catalog.open(project).get("https://example.org/paged-attention").issue == 1
    assert front(project)["status"] == "draft"
    # Rerun: the same campaign is updated, none is added.
    path = project / "content" / "issues" / "003-issue.md"
    path.write_text(path.read_text().replace("Intro.", "A new intro."))
    code, out, _err = run(project, "publish", "3", "--to", "listmonk", "--at", FUTURE)
    assert code == 0 and "updated listmonk_id 1 (scheduled)" in out
    assert len(listmonk.campaigns) == 1 and "A new intro." in listmonk.campaigns[1]["body"]
    assert listmonk.campaigns[1]["send_at"] == FUTURE and listmonk.campaigns[1]["send_later"] is True
    assert [m for m, *_ in listmonk.requests] == ["POST", "PUT", "PUT"]
    assert front(project)["status"] == "published"  # scheduled: published here too, on the day it goes out
    assert str(front(project)["date"]) == "2099-12-04"


def test_listmonk_send_now_starts_the_campaign_and_json(project: Path, listmonk: Listmonk) -> None:
    code, out, err = run(project, "publish", "3", "--to", "listmonk", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["remote"] == {"platform": "listmonk", "id": "1", "status": "running", "created": True,
                              "url": f"{listmonk.url}/admin/campaigns/1"}
    assert listmonk.campaigns[1]["status"] == "running"
    assert "marked" in data


def test_listmonk_errors_are_one_clear_line(project: Path, listmonk: Listmonk,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_LISTMONK_TOKEN", "wrong")
    code, _out, err = run(project, "publish", "3", "--to", "listmonk", "--draft")
    assert code == 1 and err.count("\n") == 1
    assert "listmonk refused the credentials (HTTP 401: Invalid API credentials)" in err
    assert "NEWSLETTER_LISTMONK_TOKEN" in err and "wrong" not in err and "Traceback" not in err
    assert "listmonk_id" not in front(project)
    monkeypatch.setenv("NEWSLETTER_LISTMONK_TOKEN", "lm-token")
    bad = project / "newsletter.toml"
    bad.write_text(bad.read_text().replace("lists = [1]", "lists = [7]"))
    code, _out, err = run(project, "publish", "3", "--to", "listmonk", "--draft")
    assert code == 1 and "listmonk rejected the post (HTTP 400: Invalid list IDs)" in err
    monkeypatch.delenv("NEWSLETTER_LISTMONK_USER")
    code, _out, err = run(project, "publish", "3", "--to", "listmonk")
    assert code == 1 and "set NEWSLETTER_LISTMONK_USER" in err


def test_not_found_is_told_by_the_status_not_by_the_wording(project: Path, listmonk: Listmonk) -> None:
    """Review finding: adapters looked for "HTTP 404" in the message, which any error text can hold."""
    code, _out, err = run(project, "publish", "3", "--to", "listmonk", "--draft")
    assert code == 0, err
    listmonk.fail_next = [(400, {"message": "the template lookup gave HTTP 404"})]
    code, _out, err = run(project, "publish", "3", "--to", "listmonk", "--draft")
    assert code == 1 and "listmonk rejected the post (HTTP 400" in err and "has no campaign" not in err
    del listmonk.campaigns[1]  # deleted there: a real 404
    code, _out, err = run(project, "publish", "3", "--to", "listmonk", "--draft")
    assert code == 1 and "listmonk has no campaign 1 (deleted there?)" in err


def test_a_failed_start_still_keeps_the_created_id(project: Path, listmonk: Listmonk) -> None:
    listmonk.fail_next = [(200, None)]  # the create answers with no document: nothing to keep
    code, _out, err = run(project, "publish", "3", "--to", "listmonk", "--draft")
    assert code == 1 and "without a campaign id" in err
    listmonk.fail_next = []

    original = listmonk.handle

    def refuse_status(method: str, path: str, *args: object) -> tuple[int, object]:
        if path.endswith("/status"):
            return 422, {"message": "Campaign has no subscribers"}
        return original(method, path, *args)  # type: ignore[arg-type]

    listmonk.handle = refuse_status  # type: ignore[method-assign]
    code, _out, err = run(project, "publish", "3", "--to", "listmonk")
    assert code == 1 and "Campaign has no subscribers" in err and "saved as a draft" in err
    created = front(project)["listmonk_id"]  # a rerun updates this campaign instead of adding one
    assert created in listmonk.campaigns and listmonk.campaigns[created]["status"] == "draft"
    assert front(project)["status"] == "draft"  # the send failed: nothing marked published here


# -- Buttondown --------------------------------------------------------------------------------------


def test_buttondown_create_update_schedule(project: Path, buttondown: Buttondown) -> None:
    code, out, err = run(project, "publish", "3", "--to", "buttondown", "--draft")
    assert code == 0, err
    assert "created buttondown_id em_0001 (draft)" in out
    assert front(project)["buttondown_id"] == "em_0001"
    email = buttondown.emails["em_0001"]
    assert email["subject"] == "Serving week" and 'href="{{ unsubscribe_url }}"' in email["body"]
    code, out, _err = run(project, "publish", "3", "--to", "buttondown", "--at", "2099-12-04T10:00:00+01:00")
    assert code == 0 and "updated buttondown_id em_0001 (scheduled)" in out
    assert buttondown.emails["em_0001"]["publish_date"] == FUTURE  # converted to UTC
    assert [m for m, *_ in buttondown.requests] == ["POST", "PATCH"]
    assert len(buttondown.emails) == 1


def test_buttondown_422_and_401(project: Path, buttondown: Buttondown, monkeypatch: pytest.MonkeyPatch) -> None:
    buttondown.fail_next = [(422, {"detail": [{"loc": ["body", "subject"], "msg": "Subject is too long",
                                               "type": "value_error"}]})]
    code, _out, err = run(project, "publish", "3", "--to", "buttondown", "--draft")
    assert code == 1 and "buttondown rejected the post (HTTP 422: subject: Subject is too long)" in err
    assert err.count("\n") == 1
    monkeypatch.setenv("NEWSLETTER_BUTTONDOWN_TOKEN", "nope")
    code, _out, err = run(project, "publish", "3", "--to", "buttondown", "--draft")
    assert code == 1 and "buttondown refused the credentials (HTTP 401: Invalid token.)" in err
    assert "nope" not in err


# -- Ghost ---------------------------------------------------------------------------------------------


def test_ghost_jwt_create_and_update_with_updated_at(project: Path, ghost: Ghost) -> None:
    code, _out, err = run(project, "publish", "3", "--to", "ghost", "--draft")
    assert code == 0, err
    ident = front(project)["ghost_id"]
    post = ghost.posts[str(ident)]
    assert post["status"] == "draft" and post["title"] == "Serving week"
    assert "Paged attention" in post["html"] and "<html" not in post["html"]  # the body only: Ghost wraps it
    assert ghost.tokens and all(t["exp"] - t["iat"] <= 300 for t in ghost.tokens)
    code, _out, err = run(project, "publish", "3", "--to", "ghost")
    assert code == 0, err
    assert ghost.posts[str(ident)]["status"] == "published"
    assert ghost.posts[str(ident)]["query"]["newsletter"] == ["default-newsletter"]
    assert [m for m, *_ in ghost.requests] == ["POST", "GET", "PUT"]
    assert len(ghost.posts) == 1


def test_ghost_errors(project: Path, ghost: Ghost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_GHOST_ADMIN_KEY", "6748592f4b9b7700010f6564:" + "00" * 32)
    code, _out, err = run(project, "publish", "3", "--to", "ghost", "--draft")
    assert code == 1 and "ghost refused the credentials (HTTP 401: Authorization failed Invalid token" in err
    monkeypatch.setenv("NEWSLETTER_GHOST_ADMIN_KEY", "not-a-key")
    code, _out, err = run(project, "publish", "3", "--to", "ghost", "--draft")
    assert code == 1 and "not an Admin API key" in err and "not-a-key" not in err
    monkeypatch.setenv("NEWSLETTER_GHOST_ADMIN_KEY", ghost.key)
    ghost.fail_next = [(422, {"errors": [{"message": "Validation error, cannot save post.",
                                          "context": "Value in [posts.title] exceeds maximum length of 255",
                                          "type": "ValidationError"}]})]
    code, _out, err = run(project, "publish", "3", "--to", "ghost", "--draft")
    assert code == 1 and "ghost rejected the post (HTTP 422: Validation error, cannot save post. Value in" in err


def test_jwt_matches_hs256_by_hand() -> None:
    token = jwt.admin_token("abcdef0123456789:" + "ab" * 32, now=1_700_000_000)
    head, payload, _sig = token.split(".")
    import base64

    def unb64(text: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))

    assert unb64(head) == {"alg": "HS256", "typ": "JWT", "kid": "abcdef0123456789"}
    assert unb64(payload) == {"iat": 1_700_000_000, "exp": 1_700_000_300, "aud": "/admin/"}
    with pytest.raises(ValueError):
        jwt.parse_admin_key("abc:xyz")


def test_usage_errors(project: Path) -> None:
    assert run(project, "publish", "3", "--draft")[0] == 2
    assert run(project, "publish", "3", "--to", "ghost", "--draft", "--at", FUTURE)[0] == 2
    code, _out, err = run(project, "publish", "3", "--to", "ghost", "--at", "2001-01-01T00:00:00Z")
    assert code == 1 and "in the past" in err
    code, _out, err = run(project, "publish", "3", "--to", "ghost", "--at", "2099-01-01T09:00")
    assert code == 1 and "no time zone" in err
    assert run(project, "publish", "3", "--to", "mailchimp")[0] == 2


def test_a_post_that_may_have_been_done_is_never_repeated(project: Path, buttondown: Buttondown) -> None:
    """500 after a POST: it may have created the email, so it is not sent again; a 429 is (nothing was done)."""
    buttondown.fail_next = [(500, {"detail": "Internal error"})]
    code, _out, err = run(project, "publish", "3", "--to", "buttondown", "--draft")
    assert code == 1 and "HTTP 500" in err and err.count("\n") == 1
    assert len(buttondown.requests) == 1
    buttondown.fail_next = [(429, {"detail": "Request was throttled."})]
    code, _out, err = run(project, "publish", "3", "--to", "buttondown", "--draft")
    assert code == 0, err
    assert [m for m, *_ in buttondown.requests] == ["POST", "POST", "POST"] and len(buttondown.emails) == 1


def test_control_characters_from_pages_never_reach_the_terminal(tmp_path: Path) -> None:
    from newsletter.cli.links import _cell

    assert _cell("Not\x1b[31m Found\r\nhere\u202e", 80) == "Not [31m Found here"
