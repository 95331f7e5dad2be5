# Deliberately broken: the scenario itself never returns. run.sh must stop the whole lab at
# its --timeout and print the log tails.
echo "hang-dom0: sleeping forever"
sleep 100000
