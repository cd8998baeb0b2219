#!/usr/bin/perl
# Sisimai (the Perl library, e.g. Debian's libsisimai-perl) as a peer of bench_intake.py:
# parses and gives a reason for every message of DIR/*.eml, the files replicated to COUNT
# messages, held in memory as bench_intake.py holds them. Per run, prints the messages per
# CPU second and the number of records Sisimai made.
#
#   perl benchmarks/sisimai_peer.pl DIR COUNT RUNS
use strict;
use warnings;
use Sisimai;
use Sisimai::Message;
use Sisimai::Data;

my ($dir, $count, $runs) = @ARGV;
die "usage: $0 DIR COUNT RUNS\n" unless defined $runs;
opendir(my $listing, $dir) or die "$dir: $!\n";
my @names = sort grep { /\.eml\z/ } readdir($listing);
closedir($listing);
die "no .eml files under $dir\n" unless @names;
my @originals = map { read_file("$dir/$_") } @names;
my @messages = map { $originals[$_ % @originals] } 0 .. $count - 1;

sub read_file {
    my ($path) = @_;
    open(my $handle, '<:raw', $path) or die "$path: $!\n";
    local $/;
    return scalar <$handle>;
}

# what Sisimai->make does for each message it reads from a mailbox
sub one_pass {
    my $records = 0;
    for my $data (@_) {
        my $message = Sisimai::Message->new('data' => $data) or next;
        my $found = Sisimai::Data->make('data' => $message, 'origin' => '<memory>');
        $records += scalar @$found if $found;
    }
    return $records;
}

one_pass(@messages[0 .. ($count < 300 ? $count : 300) - 1]);    # warm-up
printf "sisimai %s\n", Sisimai->version;
for (1 .. $runs) {
    my @before = times;
    my $records = one_pass(@messages);
    my @after = times;
    my $cpu = ($after[0] - $before[0]) + ($after[1] - $before[1]);
    printf "%.1f %d\n", ($cpu > 0 ? $count / $cpu : 0), $records;
}
