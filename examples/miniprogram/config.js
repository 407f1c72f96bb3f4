// Deployment settings of this mini program: the auth server's origin (a configured request domain),
// the app key the server knows this mini program by, and the H5 page the WebView opens.
'use strict';

module.exports = {
  AUTH_SERVER: 'https://auth.example.com',
  APP_KEY: 'organizer',
  H5_URL: 'https://h5.example.com/',
};
