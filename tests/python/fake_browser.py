"""A scripted browser for InteractiveBrowserCredential, set as BROWSER: it signs in on the authorize page and
delivers the code to the application's loopback listener, as a person at a browser would.

webbrowser waits for the browser command to end, while MSAL answers the redirect only after that, so the
command returns at once and a detached copy of this script does the work.
"""

import html
import os
import re
import subprocess
import sys

import requests

HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')
ACTION = re.compile(r'<form method="post" action="([^"]*)">')


def hidden_fields(page):
    return {html.unescape(name): html.unescape(value) for name, value in HIDDEN.findall(page)}


def browse(url):
    session = requests.Session()
    session.verify = os.environ["REQUESTS_CA_BUNDLE"]
    fields = hidden_fields(session.get(url, timeout=10).text)
    fields.update(username=os.environ["FAKE_BROWSER_USERNAME"], password=os.environ["FAKE_BROWSER_PASSWORD"])
    signed_in = session.post(url, data=fields, allow_redirects=False, timeout=10)
    if signed_in.status_code == 302:
        session.get(signed_in.headers["Location"], timeout=10)
        return
    # response_mode=form_post: what the page's script would submit.
    action = html.unescape(ACTION.search(signed_in.text).group(1))
    session.post(action, data=hidden_fields(signed_in.text), timeout=10)


if __name__ == "__main__":
    if sys.argv[1] == "--browse":
        browse(sys.argv[2])
    else:
        subprocess.Popen([sys.executable, __file__, "--browse", sys.argv[1]], start_new_session=True)
