mod feed;
