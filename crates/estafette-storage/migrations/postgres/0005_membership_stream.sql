-- A sync asks whether any membership moved in its window of the stream (for device lists):
-- without this index the question reads every membership of the server.
CREATE INDEX room_memberships_stream ON room_memberships (stream_ordering);
