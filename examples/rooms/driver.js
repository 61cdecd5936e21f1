// The rooms driver is a room node like the others: it hosts its share of
// the rooms and posts (rooms.js).
require('./rooms');
