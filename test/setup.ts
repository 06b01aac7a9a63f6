import './helpers/backends.js';
