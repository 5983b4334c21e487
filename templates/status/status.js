// golive status page: keeps the live part fresh by polling the server-rendered fragment, and sends
// acknowledgements, checklist confirmations and notes to the /api/v1 write endpoints with the API
// token as a bearer header. The token lives in sessionStorage (this tab, until it is closed); no
// cookies are used, so another site cannot make the browser write on someone's behalf.
(function () {
  'use strict';
  document.documentElement.classList.add('js');

  var TOKEN_KEY = 'golive.token';
  var AUTHOR_KEY = 'golive.author';
  var live, message, sync, refreshMs, standby, lastHtml = null, connected = true, running = false;

  function byId(id) { return document.getElementById(id); }

  function stored(key) {
    try { return window.sessionStorage.getItem(key) || ''; } catch (e) { return ''; }
  }
  function store(key, value) {
    try {
      if (value) { window.sessionStorage.setItem(key, value); } else { window.sessionStorage.removeItem(key); }
    } catch (e) { /* storage disabled: the token is then asked for again */ }
  }

  var clearing = null;
  // Says how an action went; a success fades after a while, an error stays until the next action.
  function say(text, kind) {
    message.textContent = text;
    message.className = 'message' + (kind ? ' ' + kind : '');
    window.clearTimeout(clearing);
    if (kind === 'ok') {
      clearing = window.setTimeout(function () { message.textContent = ''; message.className = 'message'; }, 10000);
    }
  }

  // The time now in the launch's time zone, like every other time on the page.
  function clock() {
    var options = { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
    try {
      return new Date().toLocaleTimeString('en-GB', Object.assign({ timeZone: document.body.getAttribute('data-timezone') }, options));
    } catch (e) {
      return new Date().toLocaleTimeString('en-GB', options);
    }
  }

  // Swaps the live part, keeping keyboard focus on the same control if it is still there.
  function swap(html) {
    var active = document.activeElement, key = null;
    if (active && live.contains(active) && active.hasAttribute('data-act')) {
      key = '[data-act="' + active.getAttribute('data-act') + '"][data-id="' + active.getAttribute('data-id') + '"]';
    }
    // A folded group of checks someone opened stays open across the swap.
    var opened = Array.prototype.map.call(live.querySelectorAll('details[open][id]'), function (group) { return group.id; });
    live.innerHTML = html;
    opened.forEach(function (id) {
      var group = byId(id);
      if (group && live.contains(group)) { group.open = true; }
    });
    if (key) {
      var again = live.querySelector(key);
      if (again) { again.focus(); }
    }
  }

  function refresh() {
    return fetch('/status/live', { cache: 'no-cache', credentials: 'omit', headers: { 'Accept': 'text/html' } })
      .then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html !== lastHtml) { swap(html); lastHtml = html; }
        sync.textContent = (standby
          ? 'Standby view: read from the database at most every 5 s; last checked '
          : 'Live: updates every ' + Math.round(refreshMs / 1000) + ' s; last update ') + clock() + '.';
        if (!connected) { connected = true; say('Connection to golive is back.', 'ok'); }
      })
      .catch(function () {
        sync.textContent = 'Cannot reach golive since ' + clock() + '; retrying.';
        if (connected) { connected = false; say('Connection to golive lost; the page shows the last known state.', 'error'); }
      });
  }

  function loop() {
    refresh().then(function () { window.setTimeout(loop, refreshMs); });
  }

  function showToken() {
    var token = stored(TOKEN_KEY);
    byId('token-form').hidden = !!token;
    byId('token-set').hidden = !token;
    byId('token-author').textContent = stored(AUTHOR_KEY) || 'the token\u2019s name';
    byId('token-summary').textContent = token
      ? 'Signed in as ' + (stored(AUTHOR_KEY) || 'the token\u2019s name')
      : 'Sign in to act';
  }

  // A write to the API: JSON with the bearer token; resolves to the answer's JSON.
  function write(path, body) {
    var token = stored(TOKEN_KEY);
    if (!token) {
      // The form is folded away until it is needed.
      byId('token-panel').open = true;
      byId('token-input').focus();
      return Promise.reject(new Error('Enter the API token first; it is kept for this browser tab only.'));
    }
    var author = stored(AUTHOR_KEY);
    if (author) { body.author = author; }
    return fetch(path, {
      method: 'POST',
      cache: 'no-store',
      credentials: 'omit',
      headers: { 'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (response.status === 401) {
          store(TOKEN_KEY, '');
          showToken();
          throw new Error('The token was refused; enter it again.');
        }
        if (!response.ok) {
          throw new Error(answer.error || ('golive answered ' + response.status));
        }
        return answer;
      });
    });
  }

  function act(button) {
    var id = button.getAttribute('data-id');
    var what = button.getAttribute('data-act');
    var done;
    if (what === 'ack') {
      done = write('/api/v1/alerts/' + encodeURIComponent(id) + '/ack', {}).then(function (answer) {
        var by = answer.alert && answer.alert.acknowledged ? answer.alert.acknowledged.by : '';
        say('Alert #' + id + ' acknowledged' + (by ? ' by ' + by : '') + '.', 'ok');
      });
    } else if (what === 'confirm') {
      done = write('/api/v1/checklist/' + encodeURIComponent(id) + '/confirm', {}).then(function (answer) {
        var confirmation = answer.confirmation || {};
        say(confirmation.newly_confirmed === false
          ? 'Checklist item ' + id + ' was already confirmed by ' + confirmation.by + '.'
          : 'Checklist item ' + id + ' confirmed.', 'ok');
      });
    } else if (what === 'step-start' || what === 'step-done') {
      var verb = what === 'step-start' ? 'start' : 'done';
      done = write('/api/v1/runbook/' + encodeURIComponent(id) + '/' + verb, {}).then(function () {
        say('Step ' + id + (verb === 'start' ? ' started.' : ' done.'), 'ok');
      });
    } else {
      return;
    }
    button.disabled = true;
    done.catch(function (error) { say(error.message, 'error'); })
      .then(function () { button.disabled = false; return refresh(); });
  }

  function start() {
    live = byId('live');
    message = byId('message');
    sync = byId('sync');
    refreshMs = Math.max(1000, parseInt(document.body.getAttribute('data-refresh-ms'), 10) || 5000);
    standby = document.body.getAttribute('data-standby') === '1';

    live.addEventListener('click', function (event) {
      var button = event.target.closest('button[data-act]');
      if (button && !button.disabled) { act(button); }
    });

    byId('token-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var token = byId('token-input').value.trim();
      if (!token) { return; }
      store(TOKEN_KEY, token);
      store(AUTHOR_KEY, byId('author-input').value.trim());
      byId('token-input').value = '';
      showToken();
      byId('token-panel').open = false;
      say('Token kept for this browser tab.', 'ok');
    });
    byId('token-forget').addEventListener('click', function () {
      store(TOKEN_KEY, '');
      store(AUTHOR_KEY, '');
      showToken();
      say('Token forgotten.', 'ok');
      byId('token-panel').open = true;
      byId('token-input').focus();
    });

    byId('note-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var text = byId('note-text');
      var kind = byId('note-kind').value;
      if (!text.value.trim()) { return; }
      var button = event.target.querySelector('button');
      button.disabled = true;
      write('/api/v1/log', { kind: kind, text: text.value })
        .then(function (answer) {
          text.value = '';
          say('Added to the log as entry #' + (answer.entry ? answer.entry.id : '?') + '.', 'ok');
        })
        .catch(function (error) { say(error.message, 'error'); })
        .then(function () { button.disabled = false; return refresh(); });
    });

    showToken();
    if (!running) { running = true; window.setTimeout(loop, refreshMs); }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
