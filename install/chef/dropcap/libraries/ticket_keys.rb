# Session ticket keys for dropcap --ticket-key-file: 80 random bytes each, kept as base64 strings
# (newest first) in an attribute or a data bag item, so that every node writes the same file.
# Plain Ruby, no Chef: an operator's rotation can load this file on its own, for example
#   ruby -r ./libraries/ticket_keys.rb -r json -e \
#     'i = JSON.parse(File.read(ARGV[0])); i["keys"] = DropcapTicketKeys.rotate(i["keys"]);
#      puts JSON.pretty_generate(i)' item.json
require 'securerandom'

module DropcapTicketKeys
  KEY_LEN = 80

  # The file's bytes (a binary String): the first `kept` keys, decoded and concatenated; the
  # first one encrypts new tickets. Raises ArgumentError naming the key that is not 80 bytes.
  def self.file_bytes(keys, kept = 2)
    keys = keys.to_a
    raise ArgumentError, 'no session ticket keys: add one (openssl rand -base64 80)' if keys.empty?

    keys.first(kept).each_with_index.map do |key, i|
      bytes = key.to_s.unpack1('m')
      unless bytes.bytesize == KEY_LEN
        raise ArgumentError, "session ticket key #{i + 1} decodes to #{bytes.bytesize} bytes, " \
                             'not 80: make one with openssl rand -base64 80'
      end
      bytes
    end.join.b
  end

  # A rotation: a new random key first, then the newest of keys, `kept` keys in all.
  def self.rotate(keys, kept = 2, random: -> { SecureRandom.random_bytes(KEY_LEN) })
    ([[random.call].pack('m0')] + keys.to_a).first(kept)
  end
end
