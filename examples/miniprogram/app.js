// One login state and one language for the whole mini program.
const { createApi } = require('./lib/api');
const { createSession } = require('./lib/session');
const { detectLang } = require('./lib/i18n');
const { AUTH_SERVER, APP_KEY } = require('./config');

const api = createApi({ wx, baseUrl: AUTH_SERVER });

App({
  globalData: { api, session: createSession({ wx, api, app: APP_KEY }), lang: detectLang(wx) },
});
