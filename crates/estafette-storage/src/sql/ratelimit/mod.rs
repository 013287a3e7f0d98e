mod buckets;
