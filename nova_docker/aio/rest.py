"""A few JSON calls to the cloud's APIs with the standard library.

``up`` registers the catalog, flavors and the image through the REST APIs
directly: no client start-up per call, and every step can look before it
creates, so re-running ``up`` changes nothing that is already there.
"""

import json
import urllib.error
import urllib.request


class ApiError(Exception):
    def __init__(self, method, url, status, body):
        super().__init__(
            '%s %s: HTTP %s %s' % (method, url, status, body[:300]))
        self.status = status


class Client:
    def __init__(self, auth_url, user, password, project='admin'):
        self.auth_url = auth_url.rstrip('/')
        self._auth = {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': user, 'domain': {'id': 'default'},
                'password': password}}},
            'scope': {'project': {'name': project,
                                  'domain': {'id': 'default'}}}}}
        self.token = None
        self.catalog = []

    def login(self):
        req = urllib.request.Request(
            self.auth_url + '/auth/tokens', method='POST',
            data=json.dumps(self._auth).encode(),
            headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(req, timeout=30) as resp:
            self.token = resp.headers['X-Subject-Token']
            self.catalog = json.load(resp)['token'].get('catalog', [])
        return self

    def endpoint(self, service_type):
        for service in self.catalog:
            if service['type'] == service_type:
                for ep in service['endpoints']:
                    if ep['interface'] == 'public':
                        return ep['url'].rstrip('/')
        raise LookupError('no %s endpoint in the catalog' % service_type)

    def call(self, method, url, body=None, headers=None, data=None,
             timeout=60):
        hdrs = {'X-Auth-Token': self.token, 'Accept': 'application/json'}
        if body is not None:
            data = json.dumps(body).encode()
            hdrs['Content-Type'] = 'application/json'
        hdrs.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method,
                                     headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise ApiError(method, url, e.code,
                           e.read().decode(errors='replace')) from None
        return json.loads(raw) if raw else None

    def identity(self, method, path, body=None):
        return self.call(method, self.auth_url + path, body)


def http_status(url, timeout=2):
    """Status of an unauthenticated GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None
