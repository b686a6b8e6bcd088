"""/docs in Chromium with every other host out of reach: Swagger UI comes from this site's own
files and lists the API's operations, and its Content-Security-Policy refuses nothing it needs."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Browser, Route

from tests.support.browser import Server, csp_guard, new_context


def test_docs_render_the_operations_without_any_other_host(
    browser: Browser, server: Server
) -> None:
    own = urlsplit(server.url).netloc
    elsewhere: list[str] = []

    def offline(route: Route) -> None:
        # The network beyond this server is unavailable: any such request fails.
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    context = new_context(browser, server)
    try:
        context.route("**/*", offline)
        page = context.new_page()
        refused = csp_guard(page)
        page.goto("/docs")
        page.locator(".opblock").first.wait_for()
        operations = page.locator(".opblock-summary-path")
        assert operations.count() > 20
        paths = {operations.nth(i).get_attribute("data-path") for i in range(operations.count())}
        assert "/api/v1/requests" in paths
        assert "/api/v1/tablet/{token}" in paths
        page.locator(".opblock-summary").first.click()
        page.locator(".opblock-body").first.wait_for()
        assert elsewhere == []
        assert refused == []
    finally:
        context.close()
